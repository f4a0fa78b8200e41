import { ConfigError, loadConfig } from "./config.js";

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
	CLUSTER_SECRET: "a-cluster-secret-that-is-long-enough-too-5678",
	TRANSPORTER: "amqp://shop:rabbit-password@rabbitmq:5672/shop",
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
		expect(problems).toHaveLength(7);
		expect(problems.join("\n")).toMatch(/PORT must be an integer/);
		expect(problems.join("\n")).toMatch(/WS_PORT must be an integer between 0 and 65535, got "70000"/);
		expect(problems.join("\n")).toMatch(/TRANSPORTER must use amqp:\/\/ or amqps:\/\//);
		expect(problems.join("\n")).toMatch(/REDIS_URL is not a valid URL/);
		expect(problems.join("\n")).toMatch(/LOG_LEVEL must be one of/);
		// A TRANSPORTER, even a bad one, means a cluster: its nodes need shared secrets.
		expect(problems.join("\n")).toMatch(/JWT_SECRET must be set when TRANSPORTER is set/);
		expect(problems.join("\n")).toMatch(/CLUSTER_SECRET must be set when TRANSPORTER is set/);
	});

	it("keeps numbers within their bounds and NODE_ENV to its three values; blanks around a value do not count", () => {
		const problems = problemsOf({ NODE_ENV: "staging", SERVICES: " , ", ACCESS_TOKEN_TTL_SECONDS: "5", LOGS_FLUSH_INTERVAL_MS: "0.5" });
		expect(problems.sort()).toEqual([
			'ACCESS_TOKEN_TTL_SECONDS must be an integer between 10 and 86400, got "5"',
			'LOGS_FLUSH_INTERVAL_MS must be an integer between 50 and 3600000, got "0.5"',
			'NODE_ENV must be development, production or test, got "staging"',
			"SERVICES is set but lists no service",
		]);
		expect(loadConfig({ PORT: " 8080 ", NODE_ENV: " test ", LOG_LEVEL: "" })).toMatchObject({ port: 8080, nodeEnv: "test", logLevel: "info" });
	});

	it("takes a ;-separated list of RabbitMQ URLs in TRANSPORTER (a cluster), each checked", () => {
		const node = {
			TRANSPORTER: "amqp://guest:guest@rabbit-1:5672;amqps://guest:guest@rabbit-2:5671",
			JWT_SECRET: "s".repeat(32),
			CLUSTER_SECRET: "c".repeat(32),
		};
		expect(loadConfig(node).transporterUrl).toBe(node.TRANSPORTER);
		expect(problemsOf({ ...node, TRANSPORTER: "amqp://rabbit-1:5672;nats://rabbit-2:4222;not a url" })).toEqual([
			'TRANSPORTER must use amqp:// or amqps://, got "nats://"',
			'TRANSPORTER is not a valid URL: "not a url"',
		]);
	});

	it("refuses an ADMIN_PASSWORD of fewer than 8 characters, without telling its length", () => {
		expect(problemsOf({ ADMIN_PASSWORD: "seven-7" })).toEqual(["ADMIN_PASSWORD must be at least 8 characters"]);
		expect(loadConfig({ ADMIN_PASSWORD: "eight-88" }).adminPassword).toBe("eight-88");
	});

	it("accepts a full production configuration", () => {
		expect(problemsOf(productionEnv)).toEqual([]);
	});

	it("refuses to start in production without a secret of 32+ characters, or without real servers", () => {
		expect(problemsOf({ ...productionEnv, JWT_SECRET: "" })).toEqual([
			expect.stringMatching(/^JWT_SECRET must be set in production, at least 32 characters$/),
		]);
		expect(problemsOf({ ...productionEnv, JWT_SECRET: "short" })).toEqual([expect.stringMatching(/^JWT_SECRET must be at least 32 characters, got 5$/)]);
		expect(problemsOf({ ...productionEnv, MONGO_URL: "" })).toEqual([expect.stringMatching(/MONGO_URL must be set in production/)]);
	});

	it("accepts production as a single process on real servers, without a transporter", () => {
		expect(problemsOf({ ...productionEnv, TRANSPORTER: "" })).toEqual([]);
		expect(loadConfig({ ...productionEnv, TRANSPORTER: "" }).transporterUrl).toBeUndefined();
	});

	describe("JWT secret", () => {
		const clusterNode = { SERVICES: "api", TRANSPORTER: "amqp://guest:guest@127.0.0.1:5672", CLUSTER_SECRET: "c".repeat(32) };

		it("is required on any node that joins a cluster (TRANSPORTER set), whatever NODE_ENV", () => {
			for (const NODE_ENV of ["development", "test"]) {
				expect(problemsOf({ ...clusterNode, NODE_ENV })).toEqual([
					expect.stringMatching(/^JWT_SECRET must be set when TRANSPORTER is set .*at least 32 characters$/),
				]);
				expect(problemsOf({ ...clusterNode, NODE_ENV, JWT_SECRET: "   " })).toEqual([
					expect.stringMatching(/^JWT_SECRET must be set when TRANSPORTER is set/),
				]);
				expect(problemsOf({ ...clusterNode, NODE_ENV, JWT_SECRET: "x".repeat(31) })).toEqual(["JWT_SECRET must be at least 32 characters, got 31"]);
			}
			expect(loadConfig({ ...clusterNode, JWT_SECRET: "s".repeat(32) }).jwtSecret).toBe("s".repeat(32));
		});

		it("is used as given when set without a transporter", () => {
			expect(loadConfig({ JWT_SECRET: "a-secret-for-this-one-process-only-123" }).jwtSecret).toBe("a-secret-for-this-one-process-only-123");
			expect(problemsOf({ JWT_SECRET: "short" })).toEqual(["JWT_SECRET must be at least 32 characters, got 5"]);
		});

		it("is a random secret made once per process when everything runs in one process and none is given", () => {
			const first = loadConfig({}).jwtSecret;
			expect(first.length).toBeGreaterThanOrEqual(32);
			// Every service of the process loads the config itself: they must agree.
			expect(loadConfig({}).jwtSecret).toBe(first);
			expect(loadConfig({ NODE_ENV: "test", SERVICES: "auth" }).jwtSecret).toBe(first);
		});

		it("differs from one process to the next, so it is no constant anyone could read", async () => {
			const { execFileSync } = await import("node:child_process");
			const { fileURLToPath } = await import("node:url");
			const configModule = fileURLToPath(new URL("./config.ts", import.meta.url));
			const script = `import(${JSON.stringify(configModule)}).then((m) => process.stdout.write(m.loadConfig({}).jwtSecret))`;
			const run = () =>
				execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { PATH: process.env.PATH }, encoding: "utf8" });
			const [a, b] = [run(), run()];
			expect(a.length).toBeGreaterThanOrEqual(32);
			expect(a).not.toBe(b);
			expect([a, b]).not.toContain(loadConfig({}).jwtSecret);
		});
	});

	describe("cluster secret", () => {
		const clusterNode = { TRANSPORTER: "amqp://guest:guest@127.0.0.1:5672", JWT_SECRET: "j".repeat(32) };

		it("is required on any node that joins a cluster (TRANSPORTER set), 32+ characters, and is not the JWT secret", () => {
			expect(problemsOf(clusterNode)).toEqual([expect.stringMatching(/^CLUSTER_SECRET must be set when TRANSPORTER is set .*at least 32 characters$/)]);
			expect(problemsOf({ ...clusterNode, CLUSTER_SECRET: "c".repeat(31) })).toEqual(["CLUSTER_SECRET must be at least 32 characters, got 31"]);
			expect(problemsOf({ ...clusterNode, CLUSTER_SECRET: "j".repeat(32) })).toEqual(["CLUSTER_SECRET must differ from JWT_SECRET"]);
			expect(loadConfig({ ...clusterNode, CLUSTER_SECRET: "c".repeat(32) }).clusterSecrets).toEqual({ secret: "c".repeat(32), previousSecrets: [] });
		});

		it("takes the secrets still accepted during a rotation from CLUSTER_SECRET_PREVIOUS, each 32+ characters", () => {
			const node = { ...clusterNode, CLUSTER_SECRET: "c".repeat(32) };
			expect(loadConfig({ ...node, CLUSTER_SECRET_PREVIOUS: ` ${"a".repeat(32)}, ,${"b".repeat(40)} ` }).clusterSecrets!.previousSecrets).toEqual([
				"a".repeat(32),
				"b".repeat(40),
			]);
			expect(problemsOf({ ...node, CLUSTER_SECRET_PREVIOUS: `${"a".repeat(32)},short` })).toEqual([
				"CLUSTER_SECRET_PREVIOUS must list secrets of at least 32 characters each",
			]);
		});

		it("is not used by a process that runs everything itself", () => {
			expect(loadConfig({ CLUSTER_SECRET: "c".repeat(32) }).clusterSecrets).toBeUndefined();
			expect(loadConfig({}).clusterSecrets).toBeUndefined();
		});

		it("comes with a RabbitMQ user of its own in production: guest, or no user (which means guest), is refused", () => {
			const refusal = "TRANSPORTER must name a RabbitMQ user of its own in production, not guest (nor leave the user out, which means guest)";
			for (const TRANSPORTER of [
				"amqp://guest:guest@rabbitmq:5672",
				"amqp://rabbitmq:5672",
				"amqps://shop:pw@rabbit-1:5671;amqp://guest:guest@rabbit-2:5672",
			]) {
				expect({ TRANSPORTER, problems: problemsOf({ ...productionEnv, TRANSPORTER }) }).toEqual({ TRANSPORTER, problems: [refusal] });
			}
			// A developer's machine, and the tests, use the local RabbitMQ's guest.
			expect(problemsOf({ ...clusterNode, CLUSTER_SECRET: "c".repeat(32), NODE_ENV: "test" })).toEqual([]);
		});
	});

	it("takes the web origins allowed to open a socket.io connection from CORS_ORIGINS, none by default", () => {
		expect(loadConfig({}).corsOrigins).toEqual([]);
		expect(loadConfig({ CORS_ORIGINS: "https://shop.example.com, http://localhost:5173" }).corsOrigins).toEqual([
			"https://shop.example.com",
			"http://localhost:5173",
		]);
		expect(problemsOf({ CORS_ORIGINS: "https://shop.example.com/path,*" })).toEqual([
			'CORS_ORIGINS must list origins such as https://shop.example.com, got "https://shop.example.com/path", "*"',
		]);
	});
});
