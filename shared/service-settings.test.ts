import { ServiceBroker } from "moleculer";
import { createBrokerOptions } from "../moleculer.config.js";
import ApiService from "../services/api.service.js";
import AuthService from "../services/auth/auth.service.js";
import LogsService from "../services/logs/logs.service.js";
import OrderService from "../services/order/order.service.js";
import PaymentService from "../services/payment/payment.service.js";
import ProductService from "../services/product/product.service.js";
import WebsocketService from "../services/websocket/websocket.service.js";
import { deleteChannelQueues } from "../test/support/cluster.js";
import { testServers } from "../test/support/servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../test/support/test-broker.js";
import { ALL_SERVICES, type AppConfig } from "./config.js";

interface PublishedService {
	name: string;
	settings: Record<string, unknown>;
}

/**
 * Every service carries the config in its settings, with the JWT secret and
 * URLs that may hold passwords; Moleculer tells the other nodes about each
 * service, settings included, in INFO packets. The config must stay on its
 * node, through every service's mixins.
 */
describe("the config in the services' settings", () => {
	let env: TestEnvironment;
	let node: ServiceBroker;
	let observer: ServiceBroker | undefined;
	let config: AppConfig;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const overrides = { transporterUrl: testServers.amqpUrl, nodeId: `configured-${env.namespace}`, port: 0, wsPort: 0 };
		config = env.config(overrides);
		node = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService, LogsService, WebsocketService], overrides);
		observer = new ServiceBroker({
			...createBrokerOptions(env.config({ transporterUrl: testServers.amqpUrl, nodeId: `observer-${env.namespace}` })),
			logger: false,
		});
		await observer.start();
		await observer.waitForServices([...ALL_SERVICES], 30_000);
	});

	afterAll(async () => {
		await observer?.stop();
		await node.stop();
		await deleteChannelQueues(env.namespace);
		await env.drop();
	});

	it("is what each service reads on its own node", () => {
		for (const name of ALL_SERVICES) expect({ name, config: node.getLocalService(name)!.settings.config }).toEqual({ name, config });
	});

	it("never reaches another node, neither in the INFO packet nor in its registry", () => {
		const info = observer!.registry.nodes.get(config.nodeId!)!.rawInfo as { services: PublishedService[] };
		const published = info.services.filter((service) => (ALL_SERVICES as readonly string[]).includes(service.name));
		expect(published.map((service) => service.name).sort()).toEqual([...ALL_SERVICES].sort());
		for (const { name, settings } of published) {
			expect({ name, keys: Object.keys(settings) }).toEqual({ name, keys: expect.not.arrayContaining(["config", "$secureSettings"]) });
		}
		// The other settings still go out (the gateway's path, moleculer-db's id field): only the config is held back.
		expect(published.find((service) => service.name === "api")!.settings).toMatchObject({ path: "/api" });
		expect(published.find((service) => service.name === "product")!.settings).toMatchObject({ idField: "_id" });

		const packet = JSON.stringify(info);
		for (const secret of [config.jwtSecret, config.databaseUrl!, config.mongoUrl!, config.redisUrl!, config.transporterUrl!]) {
			expect(packet).not.toContain(secret);
		}

		const listed = observer!.registry.getServiceList({ skipInternal: true, withActions: true }).filter((service) => service.nodeID === config.nodeId);
		expect(listed).toHaveLength(ALL_SERVICES.length);
		for (const service of listed) expect(JSON.stringify(service)).not.toContain(config.jwtSecret);
	});
});
