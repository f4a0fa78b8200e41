import type { Transaction } from "sequelize";
import { SqlRepository } from "../../shared/sql-repository.js";

interface SessionRow {
	id: string;
	user_id: string;
	family_id: string;
	token_hash: string;
	expires_at: Date;
	revoked_at: Date | null;
	replaced_by: string | null;
}

export interface NewSession {
	id: string;
	userId: string;
	/** The session a log-in started; every rotation of it stays in its family. */
	familyId: string;
	/** SHA-256 of the refresh token: the token itself is never stored. */
	tokenHash: string;
	expiresAt: Date;
}

export interface StoredSession extends NewSession {
	revokedAt: Date | null;
	/** The session that replaced this one when its token was used; set, the token must never be seen again. */
	replacedBy: string | null;
}

const toSession = (row: SessionRow): StoredSession => ({
	id: row.id,
	userId: row.user_id,
	familyId: row.family_id,
	tokenHash: row.token_hash,
	expiresAt: new Date(row.expires_at),
	revokedAt: row.revoked_at && new Date(row.revoked_at),
	replacedBy: row.replaced_by,
});

/** SQL for `auth.sessions`, one per refresh token. */
export class SessionRepository extends SqlRepository {
	async insert(session: NewSession, transaction?: Transaction): Promise<void> {
		await this.execute(
			`INSERT INTO auth.sessions (id, user_id, family_id, token_hash, expires_at) VALUES (:id, :userId, :familyId, :tokenHash, :expiresAt)`,
			{ ...session },
			transaction,
		);
	}

	/** The session of this token, whatever its state: a replaced one tells of a token used twice. */
	async findByTokenHash(tokenHash: string, transaction?: Transaction): Promise<StoredSession | null> {
		const row = await this.row<SessionRow>(`SELECT * FROM auth.sessions WHERE token_hash = :tokenHash`, { tokenHash }, transaction);
		return row ? toSession(row) : null;
	}

	/** Marks the session replaced by `successorId` unless it was revoked or replaced already; false then (refreshes that race use a token once). */
	async replace(id: string, successorId: string, transaction?: Transaction): Promise<boolean> {
		const affected = await this.execute(
			`UPDATE auth.sessions SET revoked_at = :now, replaced_by = :successorId, updated_at = :now WHERE id = :id AND revoked_at IS NULL`,
			{ id, successorId, now: new Date() },
			transaction,
		);
		return affected > 0;
	}

	/** Revokes every live session of the family. */
	async revokeFamily(familyId: string, transaction?: Transaction): Promise<number> {
		return this.execute(
			`UPDATE auth.sessions SET revoked_at = :now, updated_at = :now WHERE family_id = :familyId AND revoked_at IS NULL`,
			{ familyId, now: new Date() },
			transaction,
		);
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
