import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { ServiceBroker, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { LogsActions, type AccessLogEntry } from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import LogsService from "./logs.service.js";

type StreamRecords = [string, string[]][];

describe("logs service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let redis: Redis;
	let stream: string;
	const group = "logs-flusher";

	beforeAll(async () => {
		env = await createTestEnvironment();
		// The timer is pushed out of the way so that each test decides when a flush
		// happens; entries a dead flusher left are claimed back after 100 ms, not 30 s.
		broker = await startBroker(
			env,
			[{ name: "logs", mixins: [LogsService], settings: { claimIdleMs: 100 } } as ServiceSchema<ServiceSettingSchema, never>],
			{
				logsFlushIntervalMs: 3_600_000,
			},
		);
		db = new Sequelize(env.databaseUrl, { logging: false });
		redis = new Redis(env.redisUrl);
		stream = `${env.namespace}:logs:access`;
	});

	afterAll(async () => {
		await broker.stop();
		await redis.del(stream);
		redis.disconnect();
		await db.close();
		await env.drop();
	});

	const entry = (overrides: Partial<AccessLogEntry> = {}): AccessLogEntry => ({
		requestId: randomUUID(),
		method: "GET",
		path: "/api/products",
		status: 200,
		durationMs: 12.4,
		userId: testUsers.alice.id,
		ip: "127.0.0.1",
		at: new Date().toISOString(),
		...overrides,
	});
	// A copy: in process, the validator converts the params object it is given.
	const record = (e: AccessLogEntry) => broker.call(LogsActions.record.name, { ...e }, { caller: "api" });
	const flush = () => broker.call<{ flushed: number }, object>(LogsActions.flush.name, {});
	const streamRequestIds = async () =>
		((await redis.xrange(stream, "-", "+")) as StreamRecords).map(([, fields]) => (JSON.parse(fields[1]) as AccessLogEntry).requestId);
	const stored = (requestId: string) =>
		db.query<{ entry_id: string; method: string; path: string; status: number; duration_ms: number; user_id: string | null; ip: string | null; at: Date }>(
			`SELECT * FROM logs.access_logs WHERE request_id = :requestId`,
			{ replacements: { requestId }, type: QueryTypes.SELECT },
		);
	const pendingCount = async () => {
		const [count] = (await redis.xpending(stream, group)) as [number, ...unknown[]];
		return count;
	};
	const list = (params: object, user = testUsers.admin) =>
		broker.call<{ items: AccessLogEntry[] }, object>(LogsActions.list.name, params, { meta: { user } });

	it("record appends the entry to the Redis stream", async () => {
		const e = entry();
		await record(e);
		expect(await streamRequestIds()).toContain(e.requestId);
		const [[, fields]] = ((await redis.xrange(stream, "-", "+")) as StreamRecords).filter(([, f]) => f[1].includes(e.requestId));
		expect(JSON.parse(fields[1])).toEqual({ ...e, durationMs: 12 });
		expect(await stored(e.requestId)).toEqual([]);
	});

	it("flush moves the entries to PostgreSQL and out of the stream", async () => {
		const entries = [entry(), entry({ method: "POST", path: "/api/orders", status: 201, userId: null, ip: null })];
		for (const e of entries) await record(e);
		const { flushed } = await flush();
		expect(flushed).toBeGreaterThanOrEqual(2);
		const [first] = await stored(entries[0].requestId);
		expect(first).toMatchObject({ method: "GET", path: "/api/products", status: 200, duration_ms: 12, user_id: testUsers.alice.id, ip: "127.0.0.1" });
		expect(new Date(first.at).toISOString()).toBe(entries[0].at);
		expect(await stored(entries[1].requestId)).toEqual([expect.objectContaining({ method: "POST", status: 201, user_id: null, ip: null })]);
		expect(await redis.xlen(stream)).toBe(0);
		expect(await pendingCount()).toBe(0);
	});

	it("flushing twice stores each entry once", async () => {
		const e = entry();
		await record(e);
		await flush();
		expect(await flush()).toEqual({ flushed: 0 });
		await Promise.all([flush(), flush()]);
		expect(await stored(e.requestId)).toHaveLength(1);
	});

	it("stores once a batch that a flusher committed but died before acknowledging", async () => {
		const e = entry();
		await record(e);
		// Another flusher reads the entry, commits it to PostgreSQL, and dies before XACK.
		const read = (await redis.xreadgroup("GROUP", group, "dead-flusher", "COUNT", 100, "STREAMS", stream, ">")) as [string, StreamRecords][];
		const [entryId] = read[0][1].find(([, fields]) => fields[1].includes(e.requestId))!;
		await db.query(
			`INSERT INTO logs.access_logs (entry_id, request_id, method, path, status, duration_ms, user_id, ip, at)
			 VALUES (:entryId, :requestId, :method, :path, :status, 12, :userId, :ip, :at)`,
			{ replacements: { entryId, ...e } },
		);
		// Once the entry has been idle long enough, the live flusher claims it.
		await waitFor(async () => (await flush(), (await redis.xlen(stream)) === 0), "the dead flusher's entry to be claimed and acknowledged", 10_000, 50);
		expect(await stored(e.requestId)).toHaveLength(1);
		expect(await pendingCount()).toBe(0);
	});

	it("flushes entries a crashed flusher read but never acknowledged", async () => {
		const lost = [entry(), entry()];
		for (const e of lost) await record(e);
		const read = (await redis.xreadgroup("GROUP", group, "crashed-flusher", "COUNT", 100, "STREAMS", stream, ">")) as [string, StreamRecords][];
		expect(read[0][1]).toHaveLength(2);
		expect(await pendingCount()).toBe(2);
		// New entries keep flowing meanwhile.
		const fresh = entry();
		await record(fresh);
		await waitFor(
			async () => (await flush(), (await stored(lost[0].requestId)).length && (await stored(lost[1].requestId)).length),
			"the crashed flusher's entries to be flushed",
			10_000,
			50,
		);
		expect(await stored(fresh.requestId)).toHaveLength(1);
		expect(await redis.xlen(stream)).toBe(0);
		expect(await pendingCount()).toBe(0);
	});

	it("refuses an entry the database would refuse, so one bad entry cannot stall the flush", async () => {
		const good = entry();
		await record(good);
		await expect(record(entry({ userId: "not-a-uuid" }))).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await expect(record(entry({ at: "yesterday" }))).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await expect(record(entry({ status: 42 }))).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await flush();
		expect(await stored(good.requestId)).toHaveLength(1);
		expect(await redis.xlen(stream)).toBe(0);
	});

	it("list is for admins only", async () => {
		await expect(list({}, testUsers.alice)).rejects.toMatchObject({ code: 403, type: "FORBIDDEN" });
		await expect(broker.call(LogsActions.list.name, {})).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
	});

	it("list filters by method, status, userId and requestId", async () => {
		const tag = `/api/filter-${randomUUID()}`;
		const a = entry({ path: `${tag}/a`, method: "GET", status: 200, userId: testUsers.alice.id });
		const b = entry({ path: `${tag}/b`, method: "POST", status: 201, userId: testUsers.bob.id });
		const c = entry({ path: `${tag}/c`, method: "DELETE", status: 404, userId: testUsers.alice.id });
		const d = entry({ path: `${tag}/d`, method: "GET", status: 500, userId: null });
		for (const e of [a, b, c, d]) await record(e);
		await flush();
		const ids = async (params: object) => (await list({ path: tag, ...params })).items.map((i) => i.requestId).sort();
		const sorted = (...es: AccessLogEntry[]) => es.map((e) => e.requestId).sort();

		expect(await ids({})).toEqual(sorted(a, b, c, d));
		expect(await ids({ method: "get" })).toEqual(sorted(a, d));
		expect(await ids({ method: "POST" })).toEqual(sorted(b));
		expect(await ids({ status: 404 })).toEqual(sorted(c));
		expect(await ids({ status: "500" })).toEqual(sorted(d));
		expect(await ids({ userId: testUsers.alice.id })).toEqual(sorted(a, c));
		expect(await ids({ userId: testUsers.alice.id, method: "GET" })).toEqual(sorted(a));
		expect(await ids({ requestId: b.requestId })).toEqual(sorted(b));
		expect(await ids({ requestId: randomUUID() })).toEqual([]);
		expect((await list({ requestId: b.requestId })).items).toEqual([{ ...b, durationMs: 12 }]);
		await expect(list({ userId: "not-a-uuid" })).rejects.toMatchObject({ name: "ValidationError", code: 422 });
	});
});
