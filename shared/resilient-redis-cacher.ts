import { Cachers, type ServiceBroker } from "moleculer";
import type { Redis } from "ioredis";

/**
 * Moleculer's Redis cacher, made to treat Redis as what it is here: a cache.
 * While Redis is unreachable, reads go to the action's handler (a miss, never
 * an error), and writes are dropped, not left as unhandled rejections (the
 * base cacher does not await its `set` after a miss) that would end the
 * process. A clean that failed is done again once Redis is back, so an entry
 * cached before the outage does not outlive the change that should have
 * removed it.
 *
 * Commands fail at once while disconnected (no offline queue, one retry), so
 * requests are not held up waiting for Redis.
 */
export class ResilientRedisCacher extends Cachers.Redis<Redis> {
	private readonly pendingCleans = new Set<string>();
	private outage = false;

	constructor(url: string, options: { prefix: string; ttl: number }) {
		super({ ...options, redis: { ...redisConnectionOptions(url), maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 } });
	}

	override init(broker: ServiceBroker): void {
		super.init(broker);
		// The base cacher logs every connection error, one each reconnect
		// attempt for as long as Redis is away; here the first miss warns once.
		this.client.removeAllListeners("error");
		this.client.on("error", () => {
			(this as unknown as { connected: boolean }).connected = false;
		});
		this.client.on("ready", () => {
			if (this.outage) (this as unknown as { logger: { info(m: string): void } }).logger.info("Redis cacher reconnected");
			this.outage = false;
			const patterns = [...this.pendingCleans];
			this.pendingCleans.clear();
			if (patterns.length) void this.clean(patterns);
		});
	}

	/** QUIT needs a connection; while reconnecting, it fails and ioredis would go on reconnecting for ever. */
	override async close(): Promise<void> {
		await super.close().catch(() => this.client.disconnect());
	}

	override get(key: string): Promise<null | Record<string, unknown>> {
		return super.get(key).catch((err: Error) => this.missed(err));
	}

	override getWithTTL(key: string): Promise<null | Record<string, unknown>> {
		return super.getWithTTL(key).catch((err: Error) => this.missed(err));
	}

	override set(key: string, data: unknown, ttl?: number): Promise<unknown> {
		return super.set(key, data, ttl).catch((err: Error) => this.missed(err));
	}

	override del(key: string | string[]): Promise<unknown> {
		return super.del(key).catch((err: Error) => this.missed(err));
	}

	override clean(match: string | string[] = "*"): Promise<unknown> {
		return super.clean(match).catch((err: Error) => {
			for (const pattern of Array.isArray(match) ? match : [match]) this.pendingCleans.add(pattern);
			return this.missed(err);
		});
	}

	private missed(err: Error): null {
		if (!this.outage)
			(this as unknown as { logger: { warn(...a: unknown[]): void } }).logger.warn(
				"Redis cacher unavailable; serving without the cache until it is back:",
				err.message,
			);
		this.outage = true;
		return null;
	}
}

/** ioredis connection options from a redis:// or rediss:// URL (Moleculer passes one options object to ioredis). */
export function redisConnectionOptions(url: string): { host: string; port: number; username?: string; password?: string; db: number; tls?: object } {
	const parsed = new URL(url);
	return {
		host: parsed.hostname,
		port: Number(parsed.port || 6379),
		username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
		password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
		db: Number(parsed.pathname.slice(1) || 0),
		tls: parsed.protocol === "rediss:" ? {} : undefined,
	};
}
