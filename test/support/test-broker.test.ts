import { Redis } from "ioredis";
import type { ServiceSchema } from "moleculer";
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

	it("sets a shared JWT_SECRET for brokers that join over a TRANSPORTER, which loadConfig() then requires", async () => {
		const saved = { ...process.env };
		try {
			delete process.env.JWT_SECRET;
			other.apply({ TRANSPORTER: "amqp://guest:guest@127.0.0.1:5672" });
			expect(process.env.JWT_SECRET).toBe(other.jwtSecret);
			expect(other.jwtSecret.length).toBeGreaterThanOrEqual(32);
			other.apply({ TRANSPORTER: "amqp://guest:guest@127.0.0.1:5672", JWT_SECRET: "given-by-the-test-given-by-the-test" });
			expect(process.env.JWT_SECRET).toBe("given-by-the-test-given-by-the-test");
		} finally {
			process.env = saved;
		}
	});
});
