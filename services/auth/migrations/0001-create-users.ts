import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

export const createUsers = sqlMigration("0001-create-users", {
	up: [
		`CREATE TABLE auth.users (
			id uuid PRIMARY KEY,
			email text NOT NULL,
			name text NOT NULL,
			password_hash text NOT NULL,
			role text NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
			created_at timestamptz NOT NULL DEFAULT now(),
			updated_at timestamptz NOT NULL DEFAULT now()
		)`,
		`CREATE UNIQUE INDEX users_email_unique ON auth.users (lower(email))`,
		`CREATE TABLE auth.sessions (
			id uuid PRIMARY KEY,
			user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
			token_hash text NOT NULL UNIQUE,
			expires_at timestamptz NOT NULL,
			revoked_at timestamptz,
			created_at timestamptz NOT NULL DEFAULT now(),
			updated_at timestamptz NOT NULL DEFAULT now()
		)`,
		`CREATE INDEX sessions_user_idx ON auth.sessions (user_id)`,
	],
	down: [`DROP TABLE auth.sessions`, `DROP TABLE auth.users`],
});
