import { action, type ParamsOf } from "./params.js";

export interface AccessLogEntry {
	requestId: string;
	method: string;
	path: string;
	status: number;
	durationMs: number;
	userId: string | null;
	ip: string | null;
	at: string;
}

export const LogsActions = {
	/** Internal: the gateway hands every request's access log here. */
	record: action<void>()("logs.record", {
		requestId: { type: "string", max: 128 },
		method: { type: "string", max: 16 },
		path: { type: "string", max: 2048 },
		status: { type: "number", integer: true, min: 100, max: 599 },
		// Shaped like the columns they go to: an entry PostgreSQL would refuse
		// would fail its whole batch on every flush, and no log would leave Redis.
		durationMs: { type: "number", min: 0, max: 2_147_483_647 },
		userId: { type: "uuid", nullable: true, optional: true },
		ip: { type: "string", nullable: true, optional: true, max: 64 },
		at: { type: "date", convert: true },
	}),
	list: action<{ items: AccessLogEntry[] }>()("logs.list", {
		method: { type: "string", optional: true, uppercase: true, max: 16 },
		path: { type: "string", optional: true, max: 2048 },
		status: { type: "number", integer: true, optional: true, convert: true, min: 100, max: 599 },
		userId: { type: "uuid", optional: true },
		requestId: { type: "string", optional: true, max: 128 },
		since: { type: "date", optional: true, convert: true },
		limit: { type: "number", integer: true, min: 1, max: 500, default: 100, convert: true },
	}),
	/** Internal (ops, tests): moves everything buffered to the database now. */
	flush: action<{ flushed: number }>()("logs.flush", {}),
} as const;

export type RecordAccessLogParams = ParamsOf<typeof LogsActions.record>;
export type ListLogsParams = ParamsOf<typeof LogsActions.list>;
