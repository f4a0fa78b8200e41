import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { LogsActions, type AccessLogEntry, type ListLogsParams, type RecordAccessLogParams, type ResultOf } from "../../shared/contracts.js";
import { registerHealthProbe } from "../../shared/health.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import type { ShopService } from "../../shared/service-settings.js";
import { MemoryBuffer, RedisStreamBuffer, type AccessLogBuffer } from "./access-log-buffer.js";
import { AccessLogRepository } from "./access-log.repository.js";
import { migrations } from "./migrations/index.js";

type LogsThis = ShopService &
	PostgresThis & {
		buffer: AccessLogBuffer;
		accessLogs: AccessLogRepository;
		flushTimer?: NodeJS.Timeout;
		flushing?: Promise<number>;
		flush(): Promise<number>;
		flushBatch(): Promise<number>;
	};

const BATCH_SIZE = 500;

/**
 * Access logs are written often and read rarely: the gateway appends each
 * request's entry to a buffer (a Redis Stream), and a timer moves them to
 * PostgreSQL in batches. A batch leaves Redis only after PostgreSQL has
 * committed it.
 */
const LogsService: ServiceSchema<ServiceSettingSchema, LogsThis> = {
	name: "logs",

	mixins: [PostgresMixin({ schema: "logs", migrations })],

	settings: {
		/** Entries another flusher read and left unacknowledged this long are taken over (it is presumed dead). */
		claimIdleMs: 30_000,
	},

	actions: {
		record: {
			visibility: "public",
			callers: ["api"],
			params: LogsActions.record.params,
			async handler(this: LogsThis, ctx: Context<RecordAccessLogParams>): Promise<void> {
				const { requestId, method, path, status, durationMs, userId, ip, at } = ctx.params;
				const entry: AccessLogEntry = {
					requestId,
					method,
					path,
					status,
					durationMs: Math.round(durationMs),
					userId: userId ?? null,
					ip: ip ?? null,
					at: at.toISOString(),
				};
				try {
					await this.buffer.append(entry);
				} catch (err) {
					// Redis is down: the entry goes straight to the database instead of being lost.
					this.logger.debug("Access log buffer unavailable; writing the entry directly:", (err as Error).message);
					await this.accessLogs.insert([{ ...entry, entryId: `direct-${randomUUID()}` }]);
				}
			},
		},

		list: {
			permissions: ["admin"],
			params: LogsActions.list.params,
			async handler(this: LogsThis, ctx: Context<ListLogsParams>): Promise<ResultOf<typeof LogsActions.list>> {
				const { method, path, status, userId, requestId, since, limit } = ctx.params;
				return { items: await this.accessLogs.list({ method, path, status, userId, requestId, since }, limit) };
			},
		},

		flush: {
			visibility: "public",
			callers: ["operator"],
			params: LogsActions.flush.params,
			async handler(this: LogsThis): Promise<ResultOf<typeof LogsActions.flush>> {
				return { flushed: await this.flush() };
			},
		},
	},

	methods: {
		flush(this: LogsThis): Promise<number> {
			// One flush at a time; a caller arriving during a flush waits for it and then runs its own.
			const run = async () => {
				let total = 0;
				for (;;) {
					const flushed = await this.flushBatch();
					total += flushed;
					if (flushed < BATCH_SIZE) return total;
				}
			};
			const previous = this.flushing ?? Promise.resolve(0);
			const next = previous.then(run);
			// The caller gets the failure; the chain for the next caller never
			// rejects, so a failed flush is not an unhandled rejection.
			const settled: Promise<number> = next
				.catch(() => 0)
				.finally(() => {
					if (this.flushing === settled) this.flushing = undefined;
				});
			this.flushing = settled;
			return next;
		},

		async flushBatch(this: LogsThis): Promise<number> {
			const { ids, entries } = await this.buffer.read(BATCH_SIZE);
			if (!ids.length) return 0;
			await this.accessLogs.insert(entries.map((e, i) => ({ ...e, entryId: ids[i] })));
			await this.buffer.ack(ids);
			return ids.length;
		},
	},

	created(this: LogsThis) {
		const { redisUrl, namespace } = this.settings.config;
		this.accessLogs = new AccessLogRepository(this.sequelize);
		this.buffer = redisUrl
			? new RedisStreamBuffer(redisUrl, `${namespace}:logs:access`, "logs-flusher", this.broker.nodeID, undefined, this.settings.claimIdleMs)
			: new MemoryBuffer();
		if (redisUrl) registerHealthProbe(this, "redis", () => this.buffer.ping());
	},

	started(this: LogsThis) {
		const { logsFlushIntervalMs } = this.settings.config;
		this.flushTimer = setInterval(() => {
			this.flush().catch((err) => this.logger.warn("Access log flush failed; entries stay buffered:", (err as Error).message));
		}, logsFlushIntervalMs);
	},

	async stopped(this: LogsThis) {
		clearInterval(this.flushTimer);
		await this.flush().catch((err) => this.logger.warn("Final access log flush failed; entries stay buffered:", (err as Error).message));
		await this.buffer.close();
	},
};

export default LogsService;
