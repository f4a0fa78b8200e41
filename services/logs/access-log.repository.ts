import type { Transaction } from "sequelize";
import type { AccessLogEntry, ListLogsParams } from "../../shared/contracts.js";
import { SqlRepository } from "../../shared/sql-repository.js";

interface AccessLogRow {
	request_id: string;
	method: string;
	path: string;
	status: number;
	duration_ms: number;
	user_id: string | null;
	ip: string | null;
	at: Date;
}

/** An entry with its buffer's id (its Redis stream id, or `direct-<uuid>` when written without the buffer). */
export interface BufferedAccessLogEntry extends AccessLogEntry {
	entryId: string;
}

export type AccessLogFilter = Omit<ListLogsParams, "limit">;

/** SQL for `logs.access_logs`. */
export class AccessLogRepository extends SqlRepository {
	/** Idempotent: an entry written twice (a flush retried after its commit) is kept once. */
	async insert(rows: BufferedAccessLogEntry[], transaction?: Transaction): Promise<void> {
		await this.execute(
			`INSERT INTO logs.access_logs (entry_id, request_id, method, path, status, duration_ms, user_id, ip, at)
			 SELECT * FROM json_to_recordset(:rows) AS r(
				"entryId" text, "requestId" text, method text, path text, status smallint, "durationMs" integer, "userId" uuid, ip text, at timestamptz)
			 ON CONFLICT (entry_id) DO NOTHING`,
			{ rows: JSON.stringify(rows) },
			transaction,
		);
	}

	/** The newest entries first, up to `limit`; `path` matches as a prefix. */
	async list({ method, path, status, userId, requestId, since }: AccessLogFilter, limit: number, transaction?: Transaction): Promise<AccessLogEntry[]> {
		const filters = [
			method && "method = :method",
			path && "path LIKE :pathPrefix",
			status && "status = :status",
			userId && "user_id = :userId",
			requestId && "request_id = :requestId",
			since && "at >= :since",
		].filter(Boolean);
		const rows = await this.rows<AccessLogRow>(
			`SELECT * FROM logs.access_logs ${filters.length ? `WHERE ${filters.join(" AND ")}` : ""} ORDER BY at DESC, id DESC LIMIT :limit`,
			{
				method: method ?? null,
				pathPrefix: path ? `${path.replace(/[\\%_]/g, "\\$&")}%` : null,
				status: status ?? null,
				userId: userId ?? null,
				requestId: requestId ?? null,
				since: since ?? null,
				limit,
			},
			transaction,
		);
		return rows.map((r) => ({
			requestId: r.request_id,
			method: r.method,
			path: r.path,
			status: r.status,
			durationMs: r.duration_ms,
			userId: r.user_id,
			ip: r.ip,
			at: new Date(r.at).toISOString(),
		}));
	}
}
