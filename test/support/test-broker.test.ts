import { Redis } from "ioredis";
import type { ServiceSchema } from "moleculer";
import { testServers } from "./servers.js";
import { waitFor } from "./wait-for.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "./test-broker.js";

/** A test environment leaves nothing behind in Redis: its cacher keys and its namespace's keys go with drop(). */
describe("test environment", () => {
	let redis: Redis;
	let env: TestEnvironment;
	let other: TestEnvironment;

	beforeAll(async () => {
		env = await createTestEnvironment();
		other = await createTestEnvironment();
		redis = new Redis(env.redisUrl);
	});

	afterAll(async () => {
		await other.drop();
		await redis.quit();
	});

	const keysOf = async (namespace: string) => [...(await redis.keys(`${namespace}-cache*`)), ...(await redis.keys(`${namespace}:*`))].sort();

	it("drop() deletes the namespace's cacher keys and streams, and no other namespace's", async () => {
		const broker = await startBroker(env, [
			{
				name: "echo",
				actions: { say: { cache: true, params: { text: "string" }, handler: (ctx: { params: { text: string } }) => ctx.params.text } },
			} as ServiceSchema,
		]);
		try {
			// The cacher calls through until its connection is up, and stores the result after answering.
			await waitFor(async () => {
				await broker.call("echo.say", { text: "cached" });
				return (await redis.keys(`${env.namespace}-cache*`)).length > 0;
			}, "the cacher's key");
		} finally {
			await broker.stop();
		}
		// The logs service's stream, and another test file's keys.
		await redis.xadd(`${env.namespace}:logs:access`, "*", "entry", "{}");
		await redis.xadd(`${other.namespace}:logs:access`, "*", "entry", "{}");
		await redis.set(`${other.namespace}-cache-echo.say:keep`, "1");

		const before = await keysOf(env.namespace);
		expect(before).toEqual(
			expect.arrayContaining([`${env.namespace}:logs:access`, expect.stringMatching(new RegExp(`^${env.namespace}-cache-.*echo\\.say`))]),
		);

		await env.drop();
		expect(await keysOf(env.namespace)).toEqual([]);
		expect(await keysOf(other.namespace)).toEqual([`${other.namespace}-cache-echo.say:keep`, `${other.namespace}:logs:access`]);
	});

	it("gives brokers that join over a TRANSPORTER the environment's shared JWT secret, which a cluster's nodes need", () => {
		const overRabbit = other.config({ transporterUrl: testServers.amqpUrl });
		expect(overRabbit).toMatchObject({ transporterUrl: testServers.amqpUrl, jwtSecret: other.jwtSecret, namespace: other.namespace });
		expect(other.jwtSecret.length).toBeGreaterThanOrEqual(32);
		expect(other.config({ transporterUrl: testServers.amqpUrl, jwtSecret: "given-by-the-test-given-by-the-test" }).jwtSecret).toBe(
			"given-by-the-test-given-by-the-test",
		);
	});

	it("configures a broker's services through their settings, and never process.env", async () => {
		const before = { ...process.env };
		const broker = await startBroker(other, [{ name: "configured" }], { nodeId: `configured-${other.namespace}`, logsFlushIntervalMs: 100 });
		try {
			expect(broker.nodeID).toBe(`configured-${other.namespace}`);
			expect(broker.getLocalService("configured")!.settings.config).toEqual(
				other.config({ nodeId: `configured-${other.namespace}`, logsFlushIntervalMs: 100 }),
			);
		} finally {
			await broker.stop();
		}
		expect(process.env).toEqual(before);
	});
});
