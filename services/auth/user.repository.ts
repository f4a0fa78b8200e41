import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import type { PublicUser, Role } from "../../shared/contracts.js";

interface UserRow {
	id: string;
	email: string;
	name: string;
	password_hash: string;
	role: Role;
	created_at: Date;
	updated_at: Date;
}

export interface NewUser {
	id: string;
	email: string;
	name: string;
	passwordHash: string;
	role: Role;
}

export interface StoredUser extends NewUser {
	createdAt: Date;
	updatedAt: Date;
}

/** The only shape of a user that leaves the auth service: never the hash. */
export const toPublicUser = (user: StoredUser): PublicUser => ({
	id: user.id,
	email: user.email,
	name: user.name,
	role: user.role,
	createdAt: user.createdAt.toISOString(),
});

const toUser = (row: UserRow): StoredUser => ({
	id: row.id,
	email: row.email,
	name: row.name,
	passwordHash: row.password_hash,
	role: row.role,
	createdAt: new Date(row.created_at),
	updatedAt: new Date(row.updated_at),
});

/** SQL for `auth.users`. */
export class UserRepository {
	constructor(private readonly sequelize: Sequelize) {}

	/** Fails with sequelize's UniqueConstraintError when the email (whatever its case) is taken. */
	async insert(user: NewUser, transaction?: Transaction): Promise<StoredUser> {
		const [row] = await this.sequelize.query<UserRow>(
			`INSERT INTO auth.users (id, email, name, password_hash, role) VALUES (:id, :email, :name, :passwordHash, :role) RETURNING *`,
			{ replacements: { ...user }, type: QueryTypes.SELECT, transaction },
		);
		return toUser(row);
	}

	async findById(id: string, transaction?: Transaction): Promise<StoredUser | null> {
		const [row] = await this.sequelize.query<UserRow>(`SELECT * FROM auth.users WHERE id = :id`, {
			replacements: { id },
			type: QueryTypes.SELECT,
			transaction,
		});
		return row ? toUser(row) : null;
	}

	/** Emails are compared case-insensitively, as the unique index on lower(email) does. */
	async findByEmail(email: string, transaction?: Transaction): Promise<StoredUser | null> {
		const [row] = await this.sequelize.query<UserRow>(`SELECT * FROM auth.users WHERE lower(email) = :email`, {
			replacements: { email: email.toLowerCase() },
			type: QueryTypes.SELECT,
			transaction,
		});
		return row ? toUser(row) : null;
	}
}
