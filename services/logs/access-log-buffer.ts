import { Redis } from "ioredis";
import type { AccessLogEntry } from "../../shared/contracts.js";

export interface BufferedBatch {
	ids: string[];
	entries: AccessLogEntry[];
}

/**
 * The fast first store for access logs. An entry leaves the buffer only when
 * `ack` is called, after the database has committed it, so a crash of the
 * flusher loses nothing.
 */
export interface AccessLogBuffer {
	append(entry: AccessLogEntry): Promise<void>;
	/** Entries not yet acknowledged, including ones a crashed flusher took and never acknowledged. */
	read(max: number): Promise<BufferedBatch>;
	ack(ids: string[]): Promise<void>;
	ping(): Promise<void>;
	close(): Promise<void>;
}

/**
 * Redis Stream with a consumer group: several logs replicas share the work,
 * and entries a dead replica had read are claimed back after `claimIdleMs`.
 */
export class RedisStreamBuffer implements AccessLogBuffer {
	private readonly redis: Redis;
	private groupReady?: Promise<void>;

	constructor(
		url: string,
		private readonly stream: string,
		private readonly group: string,
		private readonly consumer: string,
		private readonly maxLength = 1_000_000,
		private readonly claimIdleMs = 30_000,
	) {
		// Fail fast while Redis is down (the service writes the entry elsewhere),
		// and keep reconnecting quietly: an "error" without a listener is printed
		// by ioredis on every attempt.
		this.redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
		this.redis.on("error", () => undefined);
	}

	async append(entry: AccessLogEntry): Promise<void> {
		// The cap bounds memory if the database stays down for a long time.
		await this.redis.xadd(this.stream, "MAXLEN", "~", String(this.maxLength), "*", "entry", JSON.stringify(entry));
	}

	async read(max: number): Promise<BufferedBatch> {
		try {
			return await this.readGroup(max);
		} catch (err) {
			// A Redis that restarted empty has lost the group with the stream: make it again.
			if (!(err as Error).message.includes("NOGROUP")) throw err;
			this.groupReady = undefined;
			return this.readGroup(max);
		}
	}

	private async readGroup(max: number): Promise<BufferedBatch> {
		await this.ensureGroup();
		const claimed = (await this.redis.xautoclaim(this.stream, this.group, this.consumer, this.claimIdleMs, "0-0", "COUNT", max)) as [
			string,
			[string, string[]][],
		];
		// Our own entries read before and never acknowledged (an earlier flush failed).
		const own = (await this.redis.xreadgroup("GROUP", this.group, this.consumer, "COUNT", max, "STREAMS", this.stream, "0")) as
			[string, [string, string[]][]][] | null;
		let records = [...claimed[1], ...(own?.[0]?.[1] ?? [])];
		if (records.length < max) {
			const fresh = (await this.redis.xreadgroup("GROUP", this.group, this.consumer, "COUNT", max - records.length, "STREAMS", this.stream, ">")) as
				[string, [string, string[]][]][] | null;
			records = [...records, ...(fresh?.[0]?.[1] ?? [])];
		}
		const unique = new Map(records.filter(([, fields]) => fields).map(([id, fields]) => [id, fields]));
		return {
			ids: [...unique.keys()],
			entries: [...unique.values()].map((fields) => JSON.parse(fields[fields.indexOf("entry") + 1]) as AccessLogEntry),
		};
	}

	async ack(ids: string[]): Promise<void> {
		if (!ids.length) return;
		await this.redis
			.multi()
			.xack(this.stream, this.group, ...ids)
			.xdel(this.stream, ...ids)
			.exec();
	}

	async ping(): Promise<void> {
		await this.redis.ping();
	}

	async close(): Promise<void> {
		await this.redis.quit().catch(() => this.redis.disconnect());
	}

	private ensureGroup(): Promise<void> {
		this.groupReady ??= this.redis
			.xgroup("CREATE", this.stream, this.group, "0", "MKSTREAM")
			.then(() => undefined)
			.catch((err: Error) => {
				if (!err.message.includes("BUSYGROUP")) {
					this.groupReady = undefined;
					throw err;
				}
			});
		return this.groupReady;
	}
}

/** In-process stand-in for `npm start` without Redis; lost on exit, like the process's own logs. */
export class MemoryBuffer implements AccessLogBuffer {
	private entries: { id: string; entry: AccessLogEntry }[] = [];
	private sequence = 0;

	async append(entry: AccessLogEntry): Promise<void> {
		this.entries.push({ id: `mem-${Date.now()}-${++this.sequence}`, entry });
	}

	async read(max: number): Promise<BufferedBatch> {
		const batch = this.entries.slice(0, max);
		return { ids: batch.map((b) => b.id), entries: batch.map((b) => b.entry) };
	}

	async ack(ids: string[]): Promise<void> {
		const done = new Set(ids);
		this.entries = this.entries.filter((b) => !done.has(b.id));
	}

	async ping(): Promise<void> {}

	async close(): Promise<void> {}
}
