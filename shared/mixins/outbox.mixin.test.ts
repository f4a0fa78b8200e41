import type { Socket } from "node:net";
import amqp, { type ChannelModel } from "amqplib";
import { ServiceBroker, type Context, type Service, type ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { createBrokerOptions } from "../../moleculer.config.js";
import { deleteChannelQueues } from "../../test/support/cluster.js";
import { testServers } from "../../test/support/servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import { Channels, ChannelConsumers } from "../contracts.js";
import { ConfirmedPublisher } from "../messaging/confirmed-publisher.js";
import { channelExchange, channelQueue, durableQueueOptions } from "../messaging/topology.js";
import { OutboxMixin, outboxMigration, type OutboxThis } from "./outbox.mixin.js";
import { PostgresMixin, runSql, type PostgresThis } from "./postgres.mixin.js";

// A publisher shaped like the order service: the fact and the change commit together.
const channel = Channels.orderCreated;
const publisherSchema = (relayIntervalMs: number): ServiceSchema => ({
	name: "publisher",
	mixins: [
		PostgresMixin({
			schema: "pub",
			migrations: [
				{
					name: "0001-things",
					up: async ({ context }) => runSql(context, ["CREATE TABLE pub.things (id text PRIMARY KEY)"]),
					down: async ({ context }) => runSql(context, ["DROP TABLE pub.things"]),
				},
				outboxMigration("pub"),
			],
		}),
		OutboxMixin({ schema: "pub", publishes: [channel], relayIntervalMs }),
	],
	actions: {
		place: {
			params: { id: "string", fail: { type: "boolean", default: false } },
			async handler(this: Service & PostgresThis & OutboxThis, ctx: Context<{ id: string; fail: boolean }>) {
				await this.withTransaction(async (transaction) => {
					await this.sequelize.query("INSERT INTO pub.things (id) VALUES (:id)", { replacements: { id: ctx.params.id }, transaction });
					await this.addToOutbox(transaction, channel, { orderId: ctx.params.id });
					if (ctx.params.fail) throw new Error("the change failed after the fact was written");
				});
				await this.relayOutbox();
			},
		},
	},
});
const Publisher = publisherSchema(200);

describe("outbox over durable RabbitMQ queues", () => {
	let env: TestEnvironment;
	let publisher: ServiceBroker;
	let consumer: ServiceBroker | undefined;
	const received: string[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		publisher = await startBroker(env, [Publisher as ServiceSchema], { transporterUrl: testServers.amqpUrl, nodeId: "publisher" });
	});

	afterAll(async () => {
		await consumer?.stop();
		await publisher.stop();
		await deleteChannelQueues(env.namespace);
		await env.drop();
	});

	it("keeps what was published before the consumer ever started, and nothing from a rolled back change", async () => {
		await publisher.call("publisher.place", { id: "first" });
		await expect(publisher.call("publisher.place", { id: "rolled-back", fail: true })).rejects.toThrow(/the change failed/);
		// Committed, but the process died before publishing: the relay finds it.
		const sequelize = (publisher.getLocalService("publisher") as unknown as PostgresThis).sequelize;
		await sequelize.query(`INSERT INTO pub.outbox (channel, payload) VALUES (:channel, '{"orderId": "recovered"}')`, { replacements: { channel } });
		await waitFor(
			async () =>
				(await sequelize.query<{ n: string }>("SELECT count(*) AS n FROM pub.outbox WHERE published_at IS NULL", { type: QueryTypes.SELECT }))[0].n ===
				"0",
			"the relay to publish every outbox row",
		);

		// Only now does the consumer group's first node start.
		consumer = new ServiceBroker({ ...createBrokerOptions(env.config({ transporterUrl: testServers.amqpUrl, nodeId: "consumer" })), logger: false });
		consumer.createService({
			name: "payment-like",
			channels: { [channel]: { group: "payment", handler: async (message: { orderId: string }) => void received.push(message.orderId) } },
		} as ServiceSchema);
		await consumer.start();
		await waitFor(() => received.length >= 2, "both committed facts");
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(received.sort()).toEqual(["first", "recovered"]);
	});
});

describe("outbox relay with publisher confirms", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let admin: ChannelModel;
	type PublisherService = Service & PostgresThis & OutboxThis & { outboxPublisher?: ConfirmedPublisher };
	let service: PublisherService;
	const queue = () => channelQueue(env.namespace, channel, ChannelConsumers[channel][0]);
	const exchange = () => channelExchange(env.namespace, channel);

	/** Outbox rows written as a committed change writes them (the relay runs only when the test says). */
	const addRows = async (...orderIds: string[]) => {
		for (const orderId of orderIds) {
			await service.sequelize.query("INSERT INTO pub.outbox (channel, payload) VALUES (:channel, :payload)", {
				replacements: { channel, payload: JSON.stringify({ orderId }) },
			});
		}
	};
	const rows = () =>
		service.sequelize.query<{ orderId: string; published: boolean; attempts: number }>(
			`SELECT payload->>'orderId' AS "orderId", published_at IS NOT NULL AS published, attempts FROM pub.outbox ORDER BY id`,
			{ type: QueryTypes.SELECT },
		);
	/** Each check on its own channel: a failed declaration closes the channel it ran on. */
	const onChannel = async <T>(work: (ch: amqp.Channel) => Promise<T>): Promise<T> => {
		const ch = await admin.createChannel();
		ch.on("error", () => undefined);
		try {
			return await work(ch);
		} finally {
			await ch.close().catch(() => undefined);
		}
	};
	const messageCount = () => onChannel(async (ch) => (await ch.checkQueue(queue())).messageCount);
	/** The socket under a publisher's current connection (amqplib's own), to cut it as a network fault would. */
	const socketOf = (publisher: ConfirmedPublisher): Socket => {
		const model = (publisher as unknown as { connection: { connection?: { connection: { stream: Socket } } } }).connection.connection;
		if (!model) throw new Error("the publisher has no connection");
		return model.connection.stream;
	};
	const rabbitmqHealth = async () => ((await broker.call("publisher.health")) as { checks: Record<string, string> }).checks.rabbitmq;
	const takeAll = () =>
		onChannel(async (ch) => {
			const taken: amqp.GetMessage[] = [];
			for (let message = await ch.get(queue(), { noAck: true }); message; message = await ch.get(queue(), { noAck: true })) taken.push(message);
			return taken;
		});

	beforeAll(async () => {
		env = await createTestEnvironment();
		// The timer stays out of the way: each test relays when it means to.
		broker = await startBroker(env, [publisherSchema(3_600_000)], { transporterUrl: testServers.amqpUrl, nodeId: "confirming-publisher" });
		service = broker.getLocalService("publisher") as unknown as PublisherService;
		admin = await amqp.connect(testServers.amqpUrl);
	});

	afterEach(async () => {
		await onChannel((ch) => ch.purgeQueue(queue()));
		await service.sequelize.query("DELETE FROM pub.outbox");
	});

	afterAll(async () => {
		await broker.stop();
		await admin.close();
		await deleteChannelQueues(env.namespace);
		await env.drop();
	});

	it("marks rows published once RabbitMQ confirmed them, persistent, on a quorum queue, encoded as the channels adapter encodes", async () => {
		expect(service.outboxPublisher).toBeDefined();
		await addRows("a", "b", "c");
		expect(await service.relayOutbox()).toBe(3);
		expect((await rows()).every((row) => row.published)).toBe(true);
		// Confirmed means in the queue: no wait needed.
		expect(await messageCount()).toBe(3);

		const messages = await takeAll();
		expect(messages.map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "a" }, { orderId: "b" }, { orderId: "c" }]);
		for (const message of messages) {
			expect(message.properties.deliveryMode).toBe(2);
			expect(message.properties.headers?.["x-outbox-id"]).toMatch(/^pub:\d+$/);
		}

		// A quorum queue: the same declaration passes, a classic one is refused.
		await expect(onChannel((ch) => ch.assertQueue(queue(), durableQueueOptions()))).resolves.toMatchObject({ queue: queue() });
		await expect(onChannel((ch) => ch.assertQueue(queue(), { durable: true, arguments: { "x-queue-type": "classic" } }))).rejects.toThrow(
			/PRECONDITION_FAILED/,
		);
	});

	it("keeps a row unpublished when its connection drops before the confirm (a message buffered and lost), and sends it at the next relay", async () => {
		await addRows("warm-up");
		expect(await service.relayOutbox()).toBe(1); // the publisher's connection is open now
		await onChannel((ch) => ch.purgeQueue(queue()));
		await addRows("lost");

		// The connection dies right as the message is handed to it: the publish is
		// accepted locally but never reaches RabbitMQ, so no confirm ever comes.
		const publisher = service.outboxPublisher!;
		const publish = publisher.publish.bind(publisher);
		let cut = 0;
		publisher.publish = async (...args) => {
			const socket = socketOf(publisher);
			const sent = publish(...args);
			socket.destroy(new Error("read ECONNRESET"));
			cut++;
			return sent;
		};
		try {
			expect(await service.relayOutbox()).toBe(0);
		} finally {
			delete (publisher as Partial<ConfirmedPublisher>).publish; // back to the prototype's
		}
		expect(cut).toBe(1);
		expect((await rows()).find((row) => row.orderId === "lost")).toMatchObject({ published: false, attempts: 1 });
		expect(await messageCount()).toBe(0);

		// The next relay connects again and sends it.
		expect(await service.relayOutbox()).toBe(1);
		expect((await rows()).every((row) => row.published)).toBe(true);
		expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "lost" }]);
	});

	it("says rabbitmq is down while the publisher has lost its connection, and up once it has connected again by itself", async () => {
		const publisher = service.outboxPublisher!;
		await publisher.start();
		expect(await rabbitmqHealth()).toBe("up");
		socketOf(publisher).destroy(new Error("read ECONNRESET"));
		await waitFor(async () => /^down: /.test(await rabbitmqHealth()), "the probe to say down", 2_000, 10);
		await waitFor(async () => (await rabbitmqHealth()) === "up", "the publisher to connect again by itself", 10_000);
		await addRows("after the reconnection");
		expect(await service.relayOutbox()).toBe(1);
		expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "after the reconnection" }]);
	});

	it("keeps a row unpublished when RabbitMQ returns it as unroutable (its queue deleted), declares the queue again and sends it at the next relay", async () => {
		const publisher = service.outboxPublisher!;
		await publisher.publish(channel, { orderId: "routed" }); // the publisher's connection is open now
		await onChannel((ch) => ch.deleteQueue(queue()));
		await addRows("unroutable");
		expect(await service.relayOutbox()).toBe(0);
		expect(await rows()).toEqual([{ orderId: "unroutable", published: false, attempts: 1 }]);

		expect(await service.relayOutbox()).toBe(1);
		expect(await rows()).toEqual([{ orderId: "unroutable", published: true, attempts: 1 }]);
		expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "unroutable" }]);

		// What the publish says, and the very next one goes through.
		await onChannel((ch) => ch.deleteQueue(queue()));
		await expect(publisher.publish(channel, { orderId: "returned" })).rejects.toThrow(
			`RabbitMQ returned the message as unroutable: no queue is bound to exchange ${exchange()}`,
		);
		await publisher.publish(channel, { orderId: "next" });
		expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "next" }]);
	});

	it("fails a publish RabbitMQ never answers (a silently dead connection) after the confirm timeout, and connects again for the next", async () => {
		const publisher = new ConfirmedPublisher({
			url: testServers.amqpUrl,
			namespace: env.namespace,
			publishes: { [channel]: ChannelConsumers[channel] },
			confirmTimeoutMs: 300,
			heartbeatSeconds: 1,
		});
		try {
			await publisher.start();
			await publisher.publish(channel, { orderId: "first" });
			// The socket goes away without an error or an end: amqplib cannot tell.
			socketOf(publisher).destroy();
			await expect(publisher.publish(channel, { orderId: "unanswered" })).rejects.toThrow(/did not confirm the message within 300 ms/);
			// Two missed heartbeats end that connection, and the publisher connects again.
			await waitFor(() => !publisher.connected, "the dead connection to be dropped", 10_000, 20);
			await waitFor(() => publisher.connected, "the publisher to connect again", 10_000, 20);
			await publisher.publish(channel, { orderId: "second" });
			expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "first" }, { orderId: "second" }]);
		} finally {
			await publisher.close();
		}
		await expect(publisher.publish(channel, { orderId: "after close" })).rejects.toThrow(/closed/);
	});

	it("keeps a row unpublished when RabbitMQ refuses it (nack), and sends it at the next relay", async () => {
		// A second queue on the exchange that refuses every message: RabbitMQ nacks the publish.
		const blocker = `blocker.${env.namespace}`;
		await onChannel(async (ch) => {
			await ch.assertQueue(blocker, { durable: true, arguments: { "x-max-length": 0, "x-overflow": "reject-publish" } });
			await ch.bindQueue(blocker, exchange(), "");
		});
		await addRows("refused");
		try {
			expect(await service.relayOutbox()).toBe(0);
			expect(await rows()).toEqual([{ orderId: "refused", published: false, attempts: 1 }]);
		} finally {
			await onChannel((ch) => ch.deleteQueue(blocker));
		}
		expect(await service.relayOutbox()).toBe(1);
		expect(await rows()).toEqual([{ orderId: "refused", published: true, attempts: 1 }]);
		// At least once: the nacked copy may have reached the consumers' queue too.
		expect(await messageCount()).toBeGreaterThanOrEqual(1);
	});

	it("keeps a row unpublished when its exchange is gone, and declares it again and sends it at the next relay", async () => {
		await addRows("before");
		expect(await service.relayOutbox()).toBe(1); // the publisher's connection is open now
		await onChannel((ch) => ch.deleteExchange(exchange()));
		await addRows("orphan");
		expect(await service.relayOutbox()).toBe(0);
		expect((await rows()).find((row) => row.orderId === "orphan")).toMatchObject({ published: false, attempts: 1 });

		expect(await service.relayOutbox()).toBe(1);
		expect((await rows()).every((row) => row.published)).toBe(true);
		expect((await takeAll()).map((m) => JSON.parse(m.content.toString()))).toEqual([{ orderId: "before" }, { orderId: "orphan" }]);
	});
});
