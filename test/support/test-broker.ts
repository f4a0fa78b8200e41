import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { ServiceBroker, type ServiceSchema, type ServiceSettingSchema } from "moleculer";
import pg from "pg";
import { createBrokerOptions } from "../../moleculer.config.js";
import { loadConfig } from "../../shared/config.js";
import type { AuthUser } from "../../shared/contracts.js";
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
	/** The JWT_SECRET that apply() sets when the test's brokers join over a TRANSPORTER. */
	jwtSecret: string;
	/**
	 * Sets process.env so that loadConfig() (and every service) sees this
	 * environment. With a TRANSPORTER it also sets JWT_SECRET (unless `extra`
	 * gives one), which loadConfig() requires then; without one, JWT_SECRET is
	 * left as it is (unset: the process's own random secret).
	 */
	apply(extra?: Record<string, string>): void;
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
		apply(extra = {}) {
			Object.assign(process.env, {
				NODE_ENV: "test",
				DATABASE_URL: env.databaseUrl,
				MONGO_URL: env.mongoUrl,
				REDIS_URL: env.redisUrl,
				NAMESPACE: env.namespace,
				LOG_LEVEL: "warn",
				LOGS_FLUSH_INTERVAL_MS: "200",
				...extra,
			});
			delete process.env.TRANSPORTER;
			if (extra.TRANSPORTER) {
				process.env.TRANSPORTER = extra.TRANSPORTER;
				process.env.JWT_SECRET = extra.JWT_SECRET ?? env.jwtSecret;
			}
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

/** Starts an in-process broker (no transporter) with the given services on the environment. */
export async function startBroker(
	env: TestEnvironment,
	services: ServiceSchema<ServiceSettingSchema, never>[],
	extraEnv: Record<string, string> = {},
): Promise<ServiceBroker> {
	env.apply(extraEnv);
	const broker = new ServiceBroker({ ...createBrokerOptions(loadConfig()), logger: false });
	for (const schema of services) broker.createService(schema as ServiceSchema);
	await broker.start();
	return broker;
}

export const testUsers = {
	admin: { id: "00000000-0000-4000-8000-000000000001", email: "admin@test.local", role: "admin" } as AuthUser,
	alice: { id: "00000000-0000-4000-8000-00000000000a", email: "alice@test.local", role: "customer" } as AuthUser,
	bob: { id: "00000000-0000-4000-8000-00000000000b", email: "bob@test.local", role: "customer" } as AuthUser,
};

export function tokenFor(user: AuthUser): Promise<string> {
	return signAccessToken(user, loadConfig().jwtSecret, 600);
}
