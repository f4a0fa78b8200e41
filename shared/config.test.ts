import { ConfigError, DEV_JWT_SECRET, loadConfig } from "./config.js";

const problemsOf = (env: Record<string, string>): string[] => {
	try {
		loadConfig(env);
	} catch (err) {
		if (err instanceof ConfigError) return err.problems;
		throw err;
	}
	return [];
};

const productionEnv = {
	NODE_ENV: "production",
	JWT_SECRET: "a-production-secret-that-is-long-enough-1234",
	TRANSPORTER: "amqp://guest:guest@rabbitmq:5672",
	REDIS_URL: "redis://redis:6379",
	DATABASE_URL: "postgres://shop@postgres:5432/shop",
	MONGO_URL: "mongodb://mongo:27017/shop",
};

describe("configuration", () => {
	it("defaults to every service in one process on embedded stores", () => {
		const config = loadConfig({});
		expect(config).toMatchObject({ port: 3000, wsPort: 3001, logLevel: "info", nodeEnv: "development", transporterUrl: undefined, databaseUrl: undefined });
		expect(config.services).toEqual(["api", "auth", "product", "order", "payment", "logs", "websocket"]);
	});

	it("chooses services with SERVICES, as moleculer-runner does", () => {
		expect(loadConfig({ SERVICES: "api, order" }).services).toEqual(["api", "order"]);
		expect(problemsOf({ SERVICES: "api,orders" })).toEqual([expect.stringContaining("SERVICES names unknown services: orders")]);
	});

	it("names every bad variable in one message", () => {
		const problems = problemsOf({ PORT: "http", WS_PORT: "70000", TRANSPORTER: "nats://x:4222", REDIS_URL: "not a url", LOG_LEVEL: "loud" });
		expect(problems).toHaveLength(5);
		expect(problems.join("\n")).toMatch(/PORT must be an integer/);
		expect(problems.join("\n")).toMatch(/WS_PORT must be an integer between 0 and 65535, got "70000"/);
		expect(problems.join("\n")).toMatch(/TRANSPORTER must use amqp:\/\/ or amqps:\/\//);
		expect(problems.join("\n")).toMatch(/REDIS_URL is not a valid URL/);
		expect(problems.join("\n")).toMatch(/LOG_LEVEL must be one of/);
	});

	it("accepts a full production configuration", () => {
		expect(problemsOf(productionEnv)).toEqual([]);
	});

	it("refuses to start in production with the default or a short secret, or without real servers", () => {
		expect(problemsOf({ ...productionEnv, JWT_SECRET: "" })).toEqual([expect.stringMatching(/JWT_SECRET must be set in production/)]);
		expect(problemsOf({ ...productionEnv, JWT_SECRET: DEV_JWT_SECRET })).toEqual([expect.stringMatching(/JWT_SECRET must be set in production/)]);
		expect(problemsOf({ ...productionEnv, JWT_SECRET: "short" })).toEqual([expect.stringMatching(/at least 32 characters/)]);
		expect(problemsOf({ ...productionEnv, MONGO_URL: "" })).toEqual([expect.stringMatching(/MONGO_URL must be set in production/)]);
	});
});
