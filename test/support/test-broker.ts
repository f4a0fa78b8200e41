import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { ServiceBroker, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import pg from "pg";
import { createBrokerOptions } from "../../moleculer.config.js";
import { loadConfig, type AppConfig } from "../../shared/config.js";
import type { AuthUser } from "../../shared/contracts.js";
import { withConfig } from "../../shared/service-settings.js";
import { signAccessToken } from "../../shared/tokens.js";
import { MONGO_BASE_ENV, testServers } from "./servers.js";

/**
 * A fresh, isolated environment for one test file: its own PostgreSQL
 * database, its own MongoDB database on the shared jongodb, its own Redis key
 * namespace, on the real servers.
 */
export interface TestEnvironment {
	databaseUrl: string;
	mongoUrl: string;
	redisUrl: string;
	namespace: string;
	/** The JWT secret of every config() of this environment, so that its brokers can join one another over a transporter. */
	jwtSecret: string;
	/** The cluster secret of its configs that join over a transporter: its brokers are one cluster. */
	clusterSecret: string;
	/**
	 * The configuration of a process on this environment, as loadConfig makes
	 * it from the variables a node of it would have, with `overrides` on top.
	 */
	config(overrides?: Partial<AppConfig>): AppConfig;
	/** Drops the database and deletes the namespace's Redis keys. */
	drop(): Promise<void>;
}

export async function createTestEnvironment(): Promise<TestEnvironment> {
	const id = randomBytes(5).toString("hex");
	const database = `shop_test_${id}`;
	const admin = new pg.Client({ connectionString: testServers.postgresAdminUrl });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${database}`);
	await admin.end();
	const databaseUrl = new URL(testServers.postgresAdminUrl);
	databaseUrl.pathname = `/${database}`;
	const mongoBase = process.env[MONGO_BASE_ENV];
	if (!mongoBase) throw new Error(`${MONGO_BASE_ENV} is not set: run the tests through jest (its global setup starts jongodb)`);

	const env: TestEnvironment = {
		databaseUrl: databaseUrl.toString(),
		mongoUrl: `${mongoBase}/shop_${id}`,
		redisUrl: testServers.redisUrl,
		namespace: `test-${id}`,
		jwtSecret: randomBytes(32).toString("base64url"),
		clusterSecret: randomBytes(32).toString("base64url"),
		config(overrides = {}) {
			const variables = {
				NODE_ENV: "test",
				DATABASE_URL: env.databaseUrl,
				MONGO_URL: env.mongoUrl,
				REDIS_URL: env.redisUrl,
				NAMESPACE: env.namespace,
				JWT_SECRET: env.jwtSecret,
				LOG_LEVEL: "warn",
				LOGS_FLUSH_INTERVAL_MS: "200",
				// Tests log in and register from one address far more often than a person does;
				// the limit itself is tried in test/security/.
				AUTH_REQUESTS_PER_MINUTE: "100000",
			};
			const config = { ...loadConfig(variables), ...overrides };
			// Joining over a transporter takes the cluster secret, as loadConfig requires with TRANSPORTER.
			return config.transporterUrl ? { ...config, clusterSecrets: config.clusterSecrets ?? { secret: env.clusterSecret, previousSecrets: [] } } : config;
		},
		async drop() {
			const client = new pg.Client({ connectionString: testServers.postgresAdminUrl });
			await client.connect();
			await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
			await client.end();
			await deleteRedisKeys(env.redisUrl, env.namespace);
		},
	};
	return env;
}

/**
 * Deletes what a namespace leaves in Redis: the cacher's keys (prefix
 * `${namespace}-cache`, moleculer.config.ts) and the namespace's own keys
 * (`${namespace}:...`, such as the access log stream `${namespace}:logs:access`).
 * Returns how many keys it deleted.
 */
export async function deleteRedisKeys(redisUrl: string, namespace: string): Promise<number> {
	const literal = namespace.replace(/[*?[\]\\]/g, "\\$&");
	const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
	await redis.connect();
	let deleted = 0;
	try {
		for (const match of [`${literal}-cache*`, `${literal}:*`]) {
			let cursor = "0";
			do {
				const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", 500);
				if (keys.length) deleted += await redis.unlink(...keys);
				cursor = next;
			} while (cursor !== "0");
		}
	} finally {
		await redis.quit();
	}
	return deleted;
}

/**
 * Starts a broker with the given services on the environment, configured as
 * `env.config(overrides)` configures it (in process unless `transporterUrl`
 * is given).
 */
export async function startBroker(
	env: TestEnvironment,
	services: ServiceSchema<ServiceSettingSchema, never>[],
	overrides: Partial<AppConfig> = {},
): Promise<ServiceBroker> {
	const config = env.config(overrides);
	const broker = new ServiceBroker({ ...createBrokerOptions(config), logger: false });
	for (const schema of services) broker.createService(withConfig(schema, config));
	await broker.start();
	return broker;
}

export const testUsers = {
	admin: { id: "00000000-0000-4000-8000-000000000001", email: "admin@test.local", role: "admin" } as AuthUser,
	alice: { id: "00000000-0000-4000-8000-00000000000a", email: "alice@test.local", role: "customer" } as AuthUser,
	bob: { id: "00000000-0000-4000-8000-00000000000b", email: "bob@test.local", role: "customer" } as AuthUser,
};

/** An access token for `user`, signed with the secret of `signer` (a TestEnvironment or a config of one). */
export function tokenFor(signer: { jwtSecret: string }, user: AuthUser): Promise<string> {
	return signAccessToken(user, signer.jwtSecret, 600);
}
