import { DataTypes, Model, type InferAttributes, type InferCreationAttributes, type Sequelize } from "sequelize";
import type { PublicUser, Role } from "../../shared/contracts.js";

export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
	declare id: string;
	declare email: string;
	declare name: string;
	declare passwordHash: string;
	declare role: Role;
	declare createdAt?: Date;
	declare updatedAt?: Date;

	/** The only shape of a user that leaves the auth service: never the hash. */
	toPublic(): PublicUser {
		return { id: this.id, email: this.email, name: this.name, role: this.role, createdAt: (this.createdAt ?? new Date()).toISOString() };
	}
}

export class Session extends Model<InferAttributes<Session>, InferCreationAttributes<Session>> {
	declare id: string;
	declare userId: string;
	declare tokenHash: string;
	declare expiresAt: Date;
	declare revokedAt: Date | null;
}

export function defineAuthModels(sequelize: Sequelize, schema: string): void {
	User.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			email: { type: DataTypes.TEXT, allowNull: false },
			name: { type: DataTypes.TEXT, allowNull: false },
			passwordHash: { type: DataTypes.TEXT, allowNull: false },
			role: { type: DataTypes.TEXT, allowNull: false, defaultValue: "customer" },
			createdAt: DataTypes.DATE,
			updatedAt: DataTypes.DATE,
		},
		{ sequelize, schema, tableName: "users" },
	);
	Session.init(
		{
			id: { type: DataTypes.UUID, primaryKey: true },
			userId: { type: DataTypes.UUID, allowNull: false },
			tokenHash: { type: DataTypes.TEXT, allowNull: false },
			expiresAt: { type: DataTypes.DATE, allowNull: false },
			revokedAt: { type: DataTypes.DATE, allowNull: true },
		},
		{ sequelize, schema, tableName: "sessions" },
	);
}
