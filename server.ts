import { randomBytes } from "node:crypto";
import { ServiceBroker, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import { createBrokerOptions } from "./moleculer.config.js";
import { ConfigError, loadConfig, type AppConfig, type ServiceName } from "./shared/config.js";
import type { PublicUser } from "./shared/contracts.js";
import { startJongodb } from "./shared/embedded/jongodb.js";
import { startPglite } from "./shared/embedded/pglite.js";
import { seedDemoCatalog } from "./shared/seed/demo-catalog.js";

/**
 * Starts the services named by SERVICES (all by default) in this process.
 * Without server URLs it is the whole shop on embedded stand-ins; with them,
 * one node of a cluster (docker-compose.yml runs several).
 */
// Each schema types `this` as its own service; `never` accepts them all.
type ServiceModule = { default: ServiceSchema<ServiceSettingSchema, never> };
const serviceModules: Record<ServiceName, () => Promise<ServiceModule>> = {
	api: () => import("./services/api.service.js"),
	auth: () => import("./services/auth/auth.service.js"),
	product: () => import("./services/product/product.service.js"),
	order: () => import("./services/order/order.service.js"),
	payment: () => import("./services/payment/payment.service.js"),
	logs: () => import("./services/logs/logs.service.js"),
	websocket: () => import("./services/websocket/websocket.service.js"),
};

const NEEDS_POSTGRES: ServiceName[] = ["auth", "product", "order", "payment", "logs"];

/**
 * Starts a stand-in for each store the process needs and has no URL for. Both
 * keep everything in memory (jongodb cannot persist), so they start empty
 * together: an inventory kept across a restart would hold stock for a catalog
 * that is gone.
 */
async function startEmbeddedStores(config: AppConfig): Promise<Array<() => Promise<void>>> {
	const stops: Array<() => Promise<void>> = [];
	const runs = (names: ServiceName[]) => config.services.some((s) => names.includes(s));
	if (runs(["product"]) && Boolean(config.databaseUrl) !== Boolean(config.mongoUrl)) {
		const [set, unset] = config.databaseUrl ? ["DATABASE_URL", "MONGO_URL"] : ["MONGO_URL", "DATABASE_URL"];
		throw new ConfigError([
			`${unset} must be set when ${set} is and the product service runs (its catalog and inventory are kept or forgotten together; the embedded stand-ins keep nothing across restarts)`,
		]);
	}
	if (!config.databaseUrl && runs(NEEDS_POSTGRES)) {
		if (config.transporterUrl) throw new ConfigError(["DATABASE_URL must be set when TRANSPORTER is (every node must share one database)"]);
		const pg = await startPglite();
		process.env.DATABASE_URL = pg.url;
		stops.push(pg.stop);
		console.log(`Embedded PostgreSQL (PGlite) at ${pg.url}, in memory: nothing is kept after the process ends`);
	}
	if (!config.mongoUrl && runs(["product"])) {
		if (config.transporterUrl) throw new ConfigError(["MONGO_URL must be set when TRANSPORTER is (every node must share one catalog)"]);
		try {
			const mongo = await startJongodb();
			process.env.MONGO_URL = `${mongo.url}/shop`;
			stops.push(mongo.stop);
			console.log(`Embedded MongoDB-compatible catalog store (jongodb) at ${mongo.url}, in memory`);
		} catch (err) {
			console.log(`jongodb not available (${(err as Error).message}); the catalog uses the in-process memory adapter`);
		}
	}
	return stops;
}

async function seedEmbedded(broker: ServiceBroker, config: AppConfig): Promise<string[]> {
	if (!config.services.includes("auth")) return [];
	const email = config.adminEmail ?? "admin@shop.local";
	const password = config.adminPassword ?? randomBytes(12).toString("base64url");
	const { created, user } = await broker.call<{ created: boolean; user: PublicUser }, object>("auth.ensureAdmin", { email, password });
	const lines = [created ? `Admin:      ${email} / ${password}` : `Admin:      ${email} (exists; its password was printed when it was created)`];
	if (config.services.includes("product")) {
		const count = await seedDemoCatalog(broker, { id: user.id, email: user.email, role: user.role });
		if (count) lines.push(`Catalog:    ${count} demo products loaded`);
	}
	return lines;
}

async function main() {
	let config = loadConfig();
	const embedded = !config.transporterUrl && (!config.databaseUrl || !config.mongoUrl);
	const stopEmbedded = await startEmbeddedStores(config);
	config = loadConfig();

	const broker = new ServiceBroker({
		...createBrokerOptions(config),
		async stopped() {
			for (const stop of stopEmbedded.reverse()) await stop();
		},
	});
	for (const name of config.services) broker.createService((await serviceModules[name]()).default as ServiceSchema);
	await broker.start();

	const lines = embedded ? await seedEmbedded(broker, config) : [];
	const banner = [`Node ${broker.nodeID} runs: ${config.services.join(", ")}`];
	if (config.services.includes("api")) banner.push(`API:        http://localhost:${config.port}/api  (health: /api/health/ready)`);
	if (config.services.includes("websocket")) banner.push(`socket.io:  http://localhost:${config.wsPort}  (auth: { token: <accessToken> })`);
	console.log(`\n${[...banner, ...lines].join("\n")}\n`);
}

main().catch((err) => {
	console.error(err instanceof ConfigError ? err.message : err);
	process.exit(1);
});
