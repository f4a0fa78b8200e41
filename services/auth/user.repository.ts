import type { Transaction } from "sequelize";
import type { PublicUser, Role } from "../../shared/contracts.js";
import { SqlRepository } from "../../shared/sql-repository.js";

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
export class UserRepository extends SqlRepository {
	/** Fails with sequelize's UniqueConstraintError when the email (whatever its case) is taken. */
	async insert(user: NewUser, transaction?: Transaction): Promise<StoredUser> {
		const [row] = await this.rows<UserRow>(
			`INSERT INTO auth.users (id, email, name, password_hash, role) VALUES (:id, :email, :name, :passwordHash, :role) RETURNING *`,
			{ ...user },
			transaction,
		);
		return toUser(row);
	}

	async findById(id: string, transaction?: Transaction): Promise<StoredUser | null> {
		const row = await this.row<UserRow>(`SELECT * FROM auth.users WHERE id = :id`, { id }, transaction);
		return row ? toUser(row) : null;
	}

	/** Emails are compared case-insensitively, as the unique index on lower(email) does. */
	async findByEmail(email: string, transaction?: Transaction): Promise<StoredUser | null> {
		const row = await this.row<UserRow>(`SELECT * FROM auth.users WHERE lower(email) = :email`, { email: email.toLowerCase() }, transaction);
		return row ? toUser(row) : null;
	}
}
