import { randomUUID } from "node:crypto";
import { ServiceBroker, type Context } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import LogsService from "../../services/logs/logs.service.js";
import { LogsActions, type AccessLogEntry } from "../../shared/contracts.js";
import { ResilientRedisCacher } from "../../shared/resilient-redis-cacher.js";
import { startPrivateRedis, type PrivateServer } from "../support/private-servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../support/test-broker.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Redis is the cache and the first store of access logs; while it is down the
 * system goes on without it. On a private Redis, so that taking it down does
 * not touch the other test files.
 */
describe("a Redis outage", () => {
	let redis: PrivateServer;

	beforeAll(async () => {
		redis = await startPrivateRedis();
	}, 30_000);

	afterAll(() => redis?.stop());

	describe("the cacher", () => {
		let broker: ServiceBroker;
		let handlerCalls = 0;
		let value = "first";

		beforeAll(async () => {
			broker = new ServiceBroker({ logger: false, cacher: new ResilientRedisCacher(redis.url, { prefix: `outage-${randomUUID()}`, ttl: 60 }) });
			broker.createService({
				name: "catalog",
				actions: {
					read: {
						cache: { keys: ["id"] },
						params: { id: "string" },
						handler(ctx: Context<{ id: string }>) {
							handlerCalls++;
							return { id: ctx.params.id, value };
						},
					},
				},
			});
			await broker.start();
		});

		afterAll(() => broker.stop());

		it("serves from the handler while Redis is down, and cleans what it missed once Redis is back", async () => {
			// Until the cacher has connected, reads skip the cache.
			await waitFor(async () => {
				expect(await broker.call("catalog.read", { id: "a" })).toEqual({ id: "a", value: "first" });
				return (await broker.cacher!.get("catalog.read:a")) !== null;
			}, "the entry cached");
			const callsWhenCached = handlerCalls;
			expect(await broker.call("catalog.read", { id: "a" })).toEqual({ id: "a", value: "first" });
			expect(handlerCalls).toBe(callsWhenCached);

			await redis.outage.begin();
			value = "second";
			// A change cleans the cache while Redis is down: neither the clean nor the reads fail.
			await expect(broker.cacher!.clean("catalog.read:**")).resolves.toBeNull();
			expect(await broker.call("catalog.read", { id: "a" })).toEqual({ id: "a", value: "second" });
			expect(await broker.call("catalog.read", { id: "b" })).toEqual({ id: "b", value: "second" });

			await redis.outage.end();
			// A restarted Redis here is empty; the clean queued during the outage
			// must still run, for a Redis that kept its data (a network cut).
			await waitFor(async () => (await broker.call<{ value: string }, object>("catalog.read", { id: "a" })).value === "second", "reads after the outage");
		}, 30_000);
	});

	describe("the logs service", () => {
		let env: TestEnvironment;
		let broker: ServiceBroker;
		let db: Sequelize;

		beforeAll(async () => {
			env = await createTestEnvironment();
			env.redisUrl = redis.url;
			broker = await startBroker(env, [LogsService], { redisUrl: redis.url, logsFlushIntervalMs: 100 });
			db = new Sequelize(env.databaseUrl, { logging: false });
		});

		afterAll(async () => {
			await broker.stop();
			await db.close();
			await env.drop();
		});

		const entry = (path: string): AccessLogEntry => ({
			requestId: randomUUID(),
			method: "GET",
			path,
			status: 200,
			durationMs: 3,
			userId: null,
			ip: "127.0.0.1",
			at: new Date().toISOString(),
		});

		const stored = async (path: string) =>
			(
				await db.query<{ count: string }>("SELECT count(*) FROM logs.access_logs WHERE path = :path", {
					replacements: { path },
					type: QueryTypes.SELECT,
				})
			)[0].count;

		it("keeps every access log recorded before, during and after the outage, and its readiness says so", async () => {
			await broker.call(LogsActions.record.name, entry("/before"), { caller: "api" });
			await waitFor(async () => (await stored("/before")) === "1", "the entry before the outage flushed");

			await redis.outage.begin();
			for (let i = 0; i < 5; i++) await broker.call(LogsActions.record.name, entry("/during"), { caller: "api" });
			const during = await broker.call<{ checks: Record<string, string> }, object>("logs.health", {});
			expect(during.checks.redis).toMatch(/^down/);
			expect(await stored("/during")).toBe("5");
			// Flushes fail while Redis is down; nothing of it escapes as an unhandled rejection.
			await new Promise((resolve) => setTimeout(resolve, 500));

			await redis.outage.end();
			await waitFor(
				async () => (await broker.call<{ checks: Record<string, string> }, object>("logs.health", {})).checks.redis === "up",
				"logs' Redis up again",
			);
			await broker.call(LogsActions.record.name, entry("/after"), { caller: "api" });
			await waitFor(async () => (await stored("/after")) === "1", "the entry after the outage flushed");
			expect(await stored("/before")).toBe("1");
		}, 30_000);
	});
});
