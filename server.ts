import { randomBytes } from "node:crypto";
import { ServiceBroker, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import pTimeout from "p-timeout";
import { createBrokerOptions } from "./moleculer.config.js";
import { ConfigError, loadConfig, type AppConfig, type ServiceName } from "./shared/config.js";
import { callAction } from "./shared/call-action.js";
import { AuthActions } from "./shared/contracts.js";
import { startJongodb } from "./shared/embedded/jongodb.js";
import { startEmbeddedPostgres } from "./shared/embedded/postgres.js";
import { seedDemoCatalog } from "./shared/seed/demo-catalog.js";
import { withConfig } from "./shared/service-settings.js";
import { StartupError } from "./shared/startup-error.js";

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
 * Starts a stand-in for each store the process needs and has no URL for, and
 * returns the config with their URLs; each one's stop goes onto `stops` as
 * soon as it runs, so a failure half-way still lets the caller stop what did
 * start. Both stand-ins keep everything in memory (jongodb cannot persist), so
 * they start empty together: an inventory kept across a restart would hold
 * stock for a catalog that is gone.
 */
async function startEmbeddedStores(config: AppConfig, stops: Array<() => Promise<void>>): Promise<AppConfig> {
	const runs = (names: ServiceName[]) => config.services.some((s) => names.includes(s));
	if (runs(["product"]) && Boolean(config.databaseUrl) !== Boolean(config.mongoUrl)) {
		const [set, unset] = config.databaseUrl ? ["DATABASE_URL", "MONGO_URL"] : ["MONGO_URL", "DATABASE_URL"];
		throw new ConfigError([
			`${unset} must be set when ${set} is and the product service runs (its catalog and inventory are kept or forgotten together; the embedded stand-ins keep nothing across restarts)`,
		]);
	}
	let { databaseUrl, mongoUrl } = config;
	if (!databaseUrl && runs(NEEDS_POSTGRES)) {
		if (config.transporterUrl) throw new ConfigError(["DATABASE_URL must be set when TRANSPORTER is (every node must share one database)"]);
		const pg = await startEmbeddedPostgres();
		stops.push(pg.stop);
		databaseUrl = pg.url;
		console.log(`Embedded PostgreSQL at ${pg.url}, data in ${pg.dataDir}: deleted when the process ends`);
	}
	if (!mongoUrl && runs(["product"])) {
		if (config.transporterUrl) throw new ConfigError(["MONGO_URL must be set when TRANSPORTER is (every node must share one catalog)"]);
		try {
			const mongo = await startJongodb();
			stops.push(mongo.stop);
			mongoUrl = `${mongo.url}/shop`;
			console.log(`Embedded MongoDB-compatible catalog store (jongodb) at ${mongo.url}, in memory`);
		} catch (err) {
			console.log(`jongodb not available (${(err as Error).message}); the catalog uses the in-process memory adapter`);
		}
	}
	return { ...config, databaseUrl, mongoUrl };
}

async function seedEmbedded(broker: ServiceBroker, config: AppConfig): Promise<string[]> {
	if (!config.services.includes("auth")) return [];
	const email = config.adminEmail ?? "admin@shop.local";
	const password = config.adminPassword ?? randomBytes(12).toString("base64url");
	const { created, user } = await callAction(broker, AuthActions.ensureAdmin, { email, password });
	const lines = [created ? `Admin:      ${email} / ${password}` : `Admin:      ${email} (exists; its password was printed when it was created)`];
	if (config.services.includes("product")) {
		const count = await seedDemoCatalog(broker, { id: user.id, email: user.email, role: user.role });
		if (count) lines.push(`Catalog:    ${count} demo products loaded`);
	}
	return lines;
}

async function main() {
	const given = loadConfig(process.env);
	const embedded = !given.transporterUrl && (!given.databaseUrl || !given.mongoUrl);
	const stops: Array<() => Promise<void>> = [];
	/** Stops the embedded stores, each once, the last started first. */
	const stopStores = async () => {
		for (let stop = stops.pop(); stop; stop = stops.pop()) {
			await stop().catch((err: Error) => console.error(`Stopping an embedded store failed: ${err.message}`));
		}
	};
	let broker: ServiceBroker | undefined;
	try {
		const config = await startEmbeddedStores(given, stops);

		// The signals are handled here, not by Moleculer: a Ctrl-C (or an
		// orchestrator, or tsx passing it on) often delivers two, and Moleculer
		// runs a second stop for the second one and exits when that one ends,
		// while the first is still stopping the services and the stores.
		broker = new ServiceBroker({ ...createBrokerOptions(config), skipProcessEventRegistration: true });
		stopOnSignals(broker, stopStores);
		for (const name of config.services) broker.createService(withConfig((await serviceModules[name]()).default, config));
		await broker.start();

		const lines = embedded ? await seedEmbedded(broker, config) : [];
		const banner = [`Node ${broker.nodeID} runs: ${config.services.join(", ")}`];
		if (config.services.includes("api")) banner.push(`API:        http://localhost:${config.port}/api  (health: /api/health/ready)`);
		if (config.services.includes("websocket")) banner.push(`socket.io:  http://localhost:${config.wsPort}  (auth: { token: <accessToken> })`);
		console.log(`\n${[...banner, ...lines].join("\n")}\n`);
	} catch (err) {
		// Leave nothing behind: the services that did start, and the stand-ins
		// (jongodb is a child process that would outlive this one).
		if (broker) await stopWithin(broker, 15_000);
		await stopStores();
		throw err;
	}
}

/** On the first SIGTERM or SIGINT: stop the broker, then the stores, then exit; a further signal changes nothing. */
function stopOnSignals(broker: ServiceBroker, stopStores: () => Promise<void>): void {
	let stopping = false;
	const stop = () => {
		if (stopping) return;
		stopping = true;
		void stopWithin(broker, 15_000)
			.then(stopStores)
			.finally(() => process.exit(0));
	};
	process.on("SIGTERM", stop);
	process.on("SIGINT", stop);
}

/** broker.stop(), given up after `ms` (a service that hangs must not keep the stores running). */
async function stopWithin(broker: ServiceBroker, ms: number): Promise<void> {
	await pTimeout(
		broker.stop().catch((err: Error) => console.error(`Stopping the broker failed: ${err.message}`)),
		{ milliseconds: ms, fallback: () => console.error(`The broker did not stop within ${ms} ms`) },
	);
}

main().catch((err) => {
	console.error(err instanceof ConfigError || err instanceof StartupError ? err.message : err);
	process.exit(1);
});
