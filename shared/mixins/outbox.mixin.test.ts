import { ServiceBroker, type Context, type Service, type ServiceSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import { createBrokerOptions } from "../../moleculer.config.js";
import { deleteChannelQueues } from "../../test/support/cluster.js";
import { testServers } from "../../test/support/servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import { loadConfig } from "../config.js";
import { Channels, ChannelConsumers } from "../contracts.js";
import { OutboxMixin, outboxMigration, type OutboxThis } from "./outbox.mixin.js";
import { PostgresMixin, runSql, type PostgresThis } from "./postgres.mixin.js";

// A publisher shaped like the order service: the fact and the change commit together.
const channel = Channels.orderCreated;
const Publisher: ServiceSchema = {
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
		OutboxMixin({ schema: "pub", publishes: { [channel]: ChannelConsumers[channel] }, relayIntervalMs: 200 }),
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
};

describe("outbox over durable RabbitMQ queues", () => {
	let env: TestEnvironment;
	let publisher: ServiceBroker;
	let consumer: ServiceBroker | undefined;
	const received: string[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		publisher = await startBroker(env, [Publisher as ServiceSchema], { TRANSPORTER: testServers.amqpUrl, NODE_ID: "publisher" });
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
			async () => (await sequelize.query<{ n: string }>("SELECT count(*) AS n FROM pub.outbox WHERE published_at IS NULL", { type: QueryTypes.SELECT }))[0].n === "0",
			"the relay to publish every outbox row",
		);

		// Only now does the consumer group's first node start.
		consumer = new ServiceBroker({ ...createBrokerOptions(loadConfig()), nodeID: "consumer", logger: false });
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
