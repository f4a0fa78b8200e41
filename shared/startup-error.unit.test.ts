import { redisConnectionOptions } from "./resilient-redis-cacher.js";
import { redactUrl, StartupError } from "./startup-error.js";

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
