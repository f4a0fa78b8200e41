import type { Transaction } from "sequelize";
import { SqlRepository } from "../../shared/sql-repository.js";

interface SessionRow {
	id: string;
	user_id: string;
	token_hash: string;
	expires_at: Date;
	revoked_at: Date | null;
}

export interface NewSession {
	id: string;
	userId: string;
	/** SHA-256 of the refresh token: the token itself is never stored. */
	tokenHash: string;
	expiresAt: Date;
}

export interface StoredSession extends NewSession {
	revokedAt: Date | null;
}

/** SQL for `auth.sessions`, one per refresh token. */
export class SessionRepository extends SqlRepository {
	async insert(session: NewSession, transaction?: Transaction): Promise<void> {
		await this.execute(
			`INSERT INTO auth.sessions (id, user_id, token_hash, expires_at) VALUES (:id, :userId, :tokenHash, :expiresAt)`,
			{ ...session },
			transaction,
		);
	}

	/** The session of this token if it is neither revoked nor expired. */
	async findLive(tokenHash: string, transaction?: Transaction): Promise<StoredSession | null> {
		const row = await this.row<SessionRow>(
			`SELECT * FROM auth.sessions WHERE token_hash = :tokenHash AND revoked_at IS NULL AND expires_at > :now LIMIT 1`,
			{ tokenHash, now: new Date() },
			transaction,
		);
		return row
			? {
					id: row.id,
					userId: row.user_id,
					tokenHash: row.token_hash,
					expiresAt: new Date(row.expires_at),
					revokedAt: row.revoked_at && new Date(row.revoked_at),
				}
			: null;
	}

	/** Revokes the session unless it already was; false when it was (one use per refresh token, even when refreshes race). */
	async revoke(id: string, transaction?: Transaction): Promise<boolean> {
		const affected = await this.execute(
			`UPDATE auth.sessions SET revoked_at = :now, updated_at = :now WHERE id = :id AND revoked_at IS NULL`,
			{ id, now: new Date() },
			transaction,
		);
		return affected > 0;
	}

	/** Revokes the session of this token, if there is one still live. */
	async revokeByTokenHash(tokenHash: string, transaction?: Transaction): Promise<void> {
		await this.execute(
			`UPDATE auth.sessions SET revoked_at = :now, updated_at = :now WHERE token_hash = :tokenHash AND revoked_at IS NULL`,
			{ tokenHash, now: new Date() },
			transaction,
		);
	}
}
