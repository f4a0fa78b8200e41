import amqp from "amqplib";
import type { Service, ServiceBroker, ServiceSchema } from "moleculer";
import { deleteChannelQueues } from "../test/support/cluster.js";
import { testServers } from "../test/support/servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../test/support/test-broker.js";
import { waitFor } from "../test/support/wait-for.js";
import { backoffDelay, CHANNEL_BACKOFF, CHANNEL_MAX_RETRIES, REDELIVERED_COUNT_HEADER, redeliveryCount, withBackoff } from "./channel-retry.js";
import { channelExchange, channelQueue, deadLetterQueue, durableQueueOptions } from "./messaging/topology.js";

const amqpMessage = (count?: number) => ({
	content: Buffer.from("{}"),
	properties: { headers: count === undefined ? {} : { [REDELIVERED_COUNT_HEADER]: count } },
});

describe("withBackoff", () => {
	it("waits min(base * 2^(n-1), max) before redelivery n, nothing before a first delivery", () => {
		expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => backoffDelay(n, CHANNEL_BACKOFF))).toEqual([
			0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000,
		]);
		// The retries of one message, up to its dead-lettering, span about two minutes.
		const waited = Array.from({ length: CHANNEL_MAX_RETRIES - 1 }, (_, i) => backoffDelay(i + 1, CHANNEL_BACKOFF)).reduce((a, b) => a + b, 0);
		expect(waited).toBeGreaterThanOrEqual(90_000);
		expect(waited).toBeLessThanOrEqual(180_000);
	});

	it("reads the count from an AMQP message's headers; without one (Fake adapter, local trigger) it is a first delivery", () => {
		expect(redeliveryCount(amqpMessage(3))).toBe(3);
		expect(redeliveryCount(amqpMessage())).toBe(0);
		expect(redeliveryCount(undefined)).toBe(0);
		// What the in-process Fake adapter passes as the raw message.
		expect(redeliveryCount({ payload: {}, headers: { [REDELIVERED_COUNT_HEADER]: 3 } })).toBe(0);
	});

	it("runs the handler with the service as `this`, after the wait", async () => {
		const waits: number[] = [];
		const seen: unknown[] = [];
		const self = { name: "svc" };
		const handler = withBackoff(
			async function (this: typeof self, message: string) {
				seen.push([this.name, message, [...waits]]);
			},
			{ baseMs: 10, maxMs: 1000, sleep: async (ms) => void waits.push(ms) },
		);
		await handler.call(self, "first", undefined);
		await handler.call(self, "third", amqpMessage(3));
		expect(seen).toEqual([
			["svc", "first", []],
			["svc", "third", [40]],
		]);
	});

	it("cuts the wait short when the broker stops, so a shutdown is not held up", async () => {
		const self = { broker: { stopping: false } };
		let ran = false;
		const handler = withBackoff(
			async function () {
				ran = true;
			},
			{ baseMs: 60_000, maxMs: 60_000 },
		);
		setTimeout(() => (self.broker.stopping = true), 100);
		const started = Date.now();
		await handler.call(self, {}, amqpMessage(1));
		expect(ran).toBe(true);
		expect(Date.now() - started).toBeLessThan(5_000);
	});
});

describe("withBackoff on the channels adapter over RabbitMQ", () => {
	const channel = "backoff.probe";
	const group = "probe";
	let env: TestEnvironment;
	let broker: ServiceBroker;
	// Each handler run: the message, and the redelivery count it saw in the AMQP headers.
	const runs: { id: string; count: number }[] = [];
	// Runs and waits in the order they happened.
	let log: string[] = [];
	const handled: string[] = [];

	const Probe: ServiceSchema = {
		name: "probe",
		channels: {
			[channel]: {
				group,
				handler: withBackoff(
					async function (this: Service, message: { id: string; failures: number }, raw?: unknown) {
						runs.push({ id: message.id, count: redeliveryCount(raw) });
						log.push(`run ${redeliveryCount(raw)}`);
						if (runs.filter((run) => run.id === message.id).length <= message.failures) throw new Error("dependency down");
						handled.push(message.id);
					},
					{
						baseMs: 20,
						maxMs: 30,
						// Real waits, recorded.
						sleep: async function (ms) {
							log.push(`wait ${ms}`);
							await new Promise((resolve) => setTimeout(resolve, ms));
						},
					},
				),
			},
		},
	};

	const queueOf = (name: string) => onChannel((ch) => ch.checkQueue(name));
	const onChannel = async <T>(work: (ch: amqp.Channel) => Promise<T>): Promise<T> => {
		const connection = await amqp.connect(testServers.amqpUrl);
		try {
			const ch = await connection.createChannel();
			ch.on("error", () => undefined);
			return await work(ch);
		} finally {
			await connection.close().catch(() => undefined);
		}
	};

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [Probe], { transporterUrl: testServers.amqpUrl, nodeId: "probe" });
	});

	afterAll(async () => {
		await broker.stop();
		await onChannel(async (ch) => {
			await ch.deleteQueue(channelQueue(env.namespace, channel, group));
			await ch.deleteExchange(channelExchange(env.namespace, channel));
		});
		await deleteChannelQueues(env.namespace);
		await env.drop();
	});

	const send = (message: { id: string; failures: number }) => broker.sendToChannel(channel, message);

	beforeEach(() => {
		log = [];
	});

	it("retries a message whose handler fails twice, each redelivery waiting longer, until it succeeds", async () => {
		await send({ id: "flaky", failures: 2 });
		await waitFor(() => handled.includes("flaky"), "the flaky message to be handled");
		// Three runs: the first delivery, then redeliveries 1 and 2, each seen in
		// the adapter's header; no wait before the first, then 20 ms, then 40 ms
		// capped at 30 ms, each before its run.
		expect(runs.filter((run) => run.id === "flaky").map((run) => run.count)).toEqual([0, 1, 2]);
		expect(log).toEqual(["run 0", "wait 20", "run 1", "wait 30", "run 2"]);
		expect(handled).toEqual(["flaky"]);
	});

	it("dead-letters a message that keeps failing after CHANNEL_MAX_RETRIES runs", async () => {
		await send({ id: "poison", failures: Number.MAX_SAFE_INTEGER });
		const deadLetter = deadLetterQueue(env.namespace);
		await waitFor(async () => (await queueOf(deadLetter)).messageCount === 1, "the poisonous message in the dead-letter queue");
		expect(runs.filter((run) => run.id === "poison").map((run) => run.count)).toEqual(Array.from({ length: CHANNEL_MAX_RETRIES }, (_, i) => i));
		expect(log.filter((entry) => entry.startsWith("wait"))).toHaveLength(CHANNEL_MAX_RETRIES - 1);
		expect(handled).not.toContain("poison");
	});

	it("consumes from quorum queues, the dead-letter queue too", async () => {
		for (const queue of [channelQueue(env.namespace, channel, group), deadLetterQueue(env.namespace)]) {
			await expect(onChannel((ch) => ch.assertQueue(queue, durableQueueOptions()))).resolves.toMatchObject({ queue });
			await expect(onChannel((ch) => ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "classic" } }))).rejects.toThrow(
				/PRECONDITION_FAILED/,
			);
		}
	});
});
