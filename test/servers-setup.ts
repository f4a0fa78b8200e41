import amqp from "amqplib";
import { Redis } from "ioredis";
import pg from "pg";
import { startJongodb } from "../shared/embedded/jongodb.js";
import { MONGO_BASE_ENV, testServers } from "./support/servers.js";

/**
 * Tests talk to the real PostgreSQL, Redis and RabbitMQ: if one does not
 * answer, the run fails here with its name, instead of tests skipping quietly.
 */
export async function setUpServers(): Promise<void> {
	const problems: string[] = [];
	const check = async (name: string, url: string, probe: () => Promise<unknown>) => {
		try {
			await probe();
		} catch (err) {
			problems.push(`${name} at ${url}: ${(err as Error).message}`);
		}
	};
	await check("PostgreSQL", testServers.postgresAdminUrl, async () => {
		const client = new pg.Client({ connectionString: testServers.postgresAdminUrl, connectionTimeoutMillis: 3000 });
		await client.connect();
		await client.query("SELECT 1");
		await client.end();
	});
	await check("Redis", testServers.redisUrl, async () => {
		const redis = new Redis(testServers.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
		await redis.connect();
		await redis.ping();
		redis.disconnect();
	});
	await check("RabbitMQ", testServers.amqpUrl, async () => {
		const connection = await amqp.connect(testServers.amqpUrl, { timeout: 3000 });
		await connection.close();
	});
	if (problems.length) {
		throw new Error(`The tests need these servers, which did not answer:\n  - ${problems.join("\n  - ")}\nSee README.md (Tests) for how to start them.`);
	}

	if (!process.env[MONGO_BASE_ENV]) {
		const mongo = await startJongodb();
		// Workers start after this and inherit the environment.
		process.env[MONGO_BASE_ENV] = mongo.url;
		(globalThis as { __JONGODB__?: typeof mongo }).__JONGODB__ = mongo;
	}
}
