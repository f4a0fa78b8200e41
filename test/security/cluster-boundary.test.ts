import amqp from "amqplib";
import { Errors, ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { createBrokerOptions } from "../../moleculer.config.js";
import AuthService from "../../services/auth/auth.service.js";
import OrderService from "../../services/order/order.service.js";
import PaymentService from "../../services/payment/payment.service.js";
import ProductService from "../../services/product/product.service.js";
import { REJECTED_HEADER } from "../../shared/channels-amqp-adapter.js";
import type { AppConfig } from "../../shared/config.js";
import { AuthActions, Channels, Events, OrderActions, ProductActions, type Order, type PaymentSettledMessage, type Product } from "../../shared/contracts.js";
import { channelExchange, deadLetterQueue } from "../../shared/messaging/topology.js";
import { deleteChannelQueues } from "../support/cluster.js";
import { testServers } from "../support/servers.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../support/test-broker.js";
import { deleteTransporterTopology } from "../support/transporter-topology.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The cluster is those who hold its secret (docs/architecture.md, the
 * cluster's trust boundary), tried with the project's own configuration: the
 * services of a shop over RabbitMQ, and an outsider with the same RabbitMQ
 * URL and namespace but not the cluster secret.
 */
describe("the cluster's trust boundary", () => {
	let env: TestEnvironment;
	let shop: ServiceBroker;
	let outsider: ServiceBroker;
	let db: Sequelize;
	const as = (user: unknown) => ({ meta: { user } });
	const nodeIds = (namespace: string) => [`shop-${namespace}`, `outsider-${namespace}`, `member-${namespace}`];

	beforeAll(async () => {
		env = await createTestEnvironment();
		shop = await startBroker(env, [AuthService, ProductService, OrderService, PaymentService], {
			transporterUrl: testServers.amqpUrl,
			nodeId: `shop-${env.namespace}`,
		});
		// Everything a member has but the cluster secret.
		const { clusterSecrets: _withheld, ...outsiderConfig }: AppConfig = env.config({
			transporterUrl: testServers.amqpUrl,
			nodeId: `outsider-${env.namespace}`,
		});
		outsider = new ServiceBroker({ ...createBrokerOptions(outsiderConfig), logger: false });
		await outsider.start();
		db = new Sequelize(env.databaseUrl, { dialect: "postgres", logging: false });
	});

	afterAll(async () => {
		await outsider?.stop();
		await shop?.stop();
		await db?.close();
		await deleteChannelQueues(env.namespace);
		await deleteTransporterTopology(env.namespace, nodeIds(env.namespace));
		await env.drop();
	});

	const count = async (sql: string) => Number((await db.query<{ count: string }>(sql, { type: QueryTypes.SELECT }))[0].count);

	it("lets an outsider discover nothing and call nothing, with a forged admin or without", async () => {
		// Long enough for discovery: a member's INFO would have arrived by now.
		await new Promise((resolve) => setTimeout(resolve, 2000));
		expect(outsider.registry.getServiceList({ skipInternal: true }).map((service) => service.name)).toEqual([]);
		const attempts = [
			outsider.call(AuthActions.ensureAdmin.name, { email: "intruder@evil.test", password: "long-enough-password" }),
			outsider.call(OrderActions.list.name, {}, as(testUsers.admin)),
			outsider.call(ProductActions.reserve.name, { orderId: testUsers.bob.id, lines: [{ productId: "x", quantity: 1 }] }),
			outsider.call("$node.options", {}, { nodeID: `shop-${env.namespace}` }),
		];
		for (const attempt of attempts) await expect(attempt).rejects.toBeInstanceOf(Errors.ServiceNotFoundError);
		expect(await count("SELECT count(*) FROM auth.users WHERE email = 'intruder@evil.test'")).toBe(0);
	});

	it("does not hear an outsider's events", async () => {
		const heard: unknown[] = [];
		const member = new ServiceBroker({
			...createBrokerOptions(env.config({ transporterUrl: testServers.amqpUrl, nodeId: `member-${env.namespace}` })),
			logger: false,
		});
		member.createService({ name: "listener", events: { [Events.orderStatus]: (ctx: { params: unknown }) => void heard.push(ctx.params) } });
		await member.start();
		try {
			await member.waitForServices(["auth"], 10_000);
			await outsider.broadcast(Events.orderStatus, { orderId: "forged", userId: testUsers.alice.id, status: "paid" });
			// The member's own broadcast, sent a second later, arrives; the outsider's never does.
			await new Promise((resolve) => setTimeout(resolve, 1000));
			await shop.broadcast(Events.orderStatus, { orderId: "genuine", userId: testUsers.alice.id, status: "paid" });
			await waitFor(async () => heard.length > 0, "the member's own event", 10_000);
			expect(heard).toEqual([expect.objectContaining({ orderId: "genuine" })]);
		} finally {
			await member.stop();
		}
	});

	it("dead-letters a settlement published straight to the exchange without the cluster's signature, and the order stays unpaid", async () => {
		const product = await shop.call<Product, object>(ProductActions.create.name, { name: "Kettle", price: 4500, stock: 3 }, as(testUsers.admin));
		// tok_timeout leaves the payment pending, so only a settlement could move the order.
		const order = await shop.call<Order, object>(
			OrderActions.create.name,
			{ items: [{ productId: product.id, quantity: 1 }], payment: { provider: "simulated", token: "tok_timeout" } },
			as(testUsers.alice),
		);
		const forged: PaymentSettledMessage = { paymentId: order.id, orderId: order.id, userId: testUsers.alice.id, status: "succeeded", failureCode: null };

		const connection = await amqp.connect(testServers.amqpUrl);
		try {
			const channel = await connection.createConfirmChannel();
			channel.publish(channelExchange(env.namespace, Channels.paymentSettled), "", Buffer.from(JSON.stringify(forged)), { persistent: true });
			await channel.waitForConfirms();
			const dead = await waitFor(
				async () => (await channel.get(deadLetterQueue(env.namespace), { noAck: true })) || undefined,
				"the forged settlement in the dead-letter queue",
				15_000,
			);
			expect(JSON.parse(dead.content.toString())).toEqual(forged);
			expect(String(dead.properties.headers?.[REJECTED_HEADER])).toMatch(/^signature: /);
		} finally {
			await connection.close();
		}
		const after = await shop.call<Order, object>(OrderActions.get.name, { id: order.id }, as(testUsers.alice));
		expect(after.status).toBe("pending_payment");
	});

	it("answers $node.options to a member without the passwords of its URLs or its secrets", async () => {
		const member = new ServiceBroker({
			...createBrokerOptions(env.config({ transporterUrl: testServers.amqpUrl, nodeId: `member-${env.namespace}` })),
			logger: false,
		});
		await member.start();
		try {
			await member.waitForServices(["auth"], 10_000);
			const options = JSON.stringify(await member.call("$node.options", {}, { nodeID: `shop-${env.namespace}` }));
			const config = env.config();
			expect(options).toContain(`"namespace":"${env.namespace}"`);
			for (const secret of [env.clusterSecret, config.jwtSecret, "guest:guest@"]) expect(options).not.toContain(secret);
			// Nor any key material of the running broker's (the channels' signing key, the transporter's session keys).
			expect(options).not.toMatch(/"type":"Buffer"/);
		} finally {
			await member.stop();
		}
	});
});
