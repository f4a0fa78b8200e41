/**
 * The real servers the tests use. Defaults are the ones every development and
 * CI machine runs (docs/decisions.md, 11); override with TEST_* variables.
 */
export const testServers = {
	postgresAdminUrl: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
	redisUrl: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
	amqpUrl: process.env.TEST_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672",
};

/** Set by the global setup: the jongodb (MongoDB stand-in) every test file shares, one database each. */
export const MONGO_BASE_ENV = "TEST_MONGO_BASE_URL";
