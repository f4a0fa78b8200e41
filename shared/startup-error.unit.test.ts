import { redisConnectionOptions } from "./resilient-redis-cacher.js";
import { redactUrl, withoutCredentials } from "./redact.js";
import { StartupError } from "./startup-error.js";

describe("StartupError", () => {
	it("is its own message, without a stack, so the operator reads one line", () => {
		const err = new StartupError("MongoDB at mongodb://127.0.0.1:27017/shop did not answer within 30 s; start it, or fix MONGO_URL");
		expect(err.stack).toBe(`StartupError: ${err.message}`);
	});
});

describe("redactUrl", () => {
	it("hides the password of a server URL and keeps the rest", () => {
		expect(redactUrl("postgres://shop:s3cret@db:5432/shop")).toBe("postgres://shop:***@db:5432/shop");
		expect(redactUrl("mongodb://127.0.0.1:27017/shop")).toBe("mongodb://127.0.0.1:27017/shop");
		expect(redactUrl("not a url")).toBe("(an invalid URL)");
	});
});

describe("withoutCredentials", () => {
	it("copies options as plain data without the passwords of URLs, the values of secret keys, cycles, functions or the insides of instances", () => {
		class Keyring {
			key = Buffer.from("the signing key");
		}
		const options: Record<string, unknown> = {
			signer: new Keyring(),
			transporter: { type: "AMQP", options: { url: ["amqp://shop:s3cret@rabbit:5672/shop", "amqp://rabbit2:5672"] } },
			cacher: { redisUrl: "redis://:pw@redis:6379", prefix: "shop-cache" },
			clusterSecret: "a-very-long-cluster-secret-of-48-characters-xyz",
			jwtSecret: "another-secret",
			nested: { password: 1234, passwordPolicy: { minLength: 8 } },
			validator: () => true,
		};
		options.self = options;
		expect(withoutCredentials(options)).toEqual({
			signer: "[Keyring]",
			transporter: { type: "AMQP", options: { url: ["amqp://shop:***@rabbit:5672/shop", "amqp://rabbit2:5672"] } },
			cacher: { redisUrl: "redis://:***@redis:6379", prefix: "shop-cache" },
			clusterSecret: "***",
			jwtSecret: "***",
			nested: { password: "***", passwordPolicy: { minLength: 8 } },
		});
	});
});

describe("redisConnectionOptions", () => {
	it("reads host, port, credentials, database and TLS from a redis:// or rediss:// URL", () => {
		expect(redisConnectionOptions("redis://127.0.0.1:6380")).toEqual({
			host: "127.0.0.1",
			port: 6380,
			username: undefined,
			password: undefined,
			db: 0,
			tls: undefined,
		});
		expect(redisConnectionOptions("rediss://user:p%40ss@cache.example:6390/3")).toEqual({
			host: "cache.example",
			port: 6390,
			username: "user",
			password: "p@ss",
			db: 3,
			tls: {},
		});
		expect(redisConnectionOptions("redis://cache").port).toBe(6379);
	});
});
