import { Errors, ServiceBroker, type ServiceSchema } from "moleculer";
import { createBrokerOptions } from "../moleculer.config.js";
import { loadConfig } from "../shared/config.js";
import { freePort } from "../test/support/cluster.js";
import { createTestEnvironment, startBroker, testUsers, tokenFor, type TestEnvironment } from "../test/support/test-broker.js";
import ApiService, { toErrorResponse } from "./api.service.js";
import AuthService from "./auth/auth.service.js";
import ProductService from "./product/product.service.js";

describe("api gateway", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let base: string;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		// order, payment and logs deliberately absent: readiness must say so.
		broker = await startBroker(env, [ApiService, AuthService, ProductService], { PORT: String(port) });
		base = `http://127.0.0.1:${port}/api`;
	});

	afterAll(async () => {
		await broker.stop();
		await env.drop();
	});

	it("is live, and not ready while a routed service has no node, naming it", async () => {
		expect((await fetch(`${base}/health/live`)).status).toBe(200);
		const ready = await fetch(`${base}/health/ready`);
		expect(ready.status).toBe(503);
		const body = (await ready.json()) as { status: string; checks: Record<string, string> };
		expect(body.status).toBe("unavailable");
		expect(body.checks).toMatchObject({ redis: "up", "auth:postgres": "up", "product:postgres": "up", "product:mongodb": "up", "service:product": "up" });
		expect(body.checks["service:order"]).toBe("down");
		expect(body.checks["service:logs"]).toBe("down");
	});

	it("returns a request id on every response, keeping a sane one the client sent", async () => {
		const generated = await fetch(`${base}/products`);
		expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
		const kept = await fetch(`${base}/products`, { headers: { "X-Request-ID": "client-trace-42" } });
		expect(kept.headers.get("x-request-id")).toBe("client-trace-42");
		const replaced = await fetch(`${base}/products`, { headers: { "X-Request-ID": "<script>" } });
		expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
	});

	it("answers errors with the public error body", async () => {
		const missing = await fetch(`${base}/nowhere`, { headers: { "X-Request-ID": "req-404" } });
		expect(missing.status).toBe(404);
		expect(await missing.json()).toEqual({ error: { code: "ROUTE_NOT_FOUND", message: "No such route", requestId: "req-404" } });

		const malformed = await fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
		expect(malformed.status).toBe(400);
		expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe("MALFORMED_JSON");

		const invalid = await fetch(`${base}/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "x" }) });
		expect(invalid.status).toBe(422);
		const invalidBody = (await invalid.json()) as { error: { code: string; details: { field: string }[] } };
		expect(invalidBody.error.code).toBe("VALIDATION_ERROR");
		expect(invalidBody.error.details.map((d) => d.field).sort()).toEqual(["email", "name", "password"]);
		expect(JSON.stringify(invalidBody)).not.toMatch(/nodeID|action/);
	});

	it("authenticates bearer tokens and lets the action decide who may call it", async () => {
		const forged = await fetch(`${base}/products`, { headers: { authorization: "Bearer not.a.token" } });
		expect(forged.status).toBe(401);
		expect(((await forged.json()) as { error: { code: string } }).error.code).toBe("INVALID_TOKEN");

		const create = (token?: string) =>
			fetch(`${base}/products`, {
				method: "POST",
				headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
				body: JSON.stringify({ name: "Gateway mug", price: 900, stock: 2 }),
			});
		// Who may call is checked before the params: an anonymous caller learns nothing of an admin action.
		const anonymousEmpty = await fetch(`${base}/products`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
		expect(anonymousEmpty.status).toBe(401);
		expect(JSON.stringify(await anonymousEmpty.json())).not.toMatch(/price|name/);
		const customerEmpty = await fetch(`${base}/products`, {
			method: "POST",
			headers: { "content-type": "application/json", authorization: `Bearer ${await tokenFor(testUsers.alice)}` },
			body: "{}",
		});
		expect(customerEmpty.status).toBe(403);
		expect((await create()).status).toBe(401);
		expect((await create(await tokenFor(testUsers.alice))).status).toBe(403);
		expect((await create(await tokenFor(testUsers.admin))).status).toBe(201);
	});

	it("refuses an Idempotency-Key that is not printable ASCII", async () => {
		const response = await fetch(`${base}/auth/login`, {
			method: "POST",
			headers: { "content-type": "application/json", "Idempotency-Key": "x".repeat(300) },
			body: JSON.stringify({ email: "a@b.co", password: "whatever1" }),
		});
		expect(response.status).toBe(400);
		expect(((await response.json()) as { error: { code: string } }).error.code).toBe("INVALID_IDEMPOTENCY_KEY");
	});

	it("fails to start, instead of hanging, when its port is taken", async () => {
		const taken = new URL(base).port;
		const second = new ServiceBroker({ ...createBrokerOptions(loadConfig({ ...process.env, PORT: taken })), logger: false });
		second.createService({ ...ApiService, settings: { ...ApiService.settings, port: Number(taken) } } as ServiceSchema);
		try {
			await expect(second.start()).rejects.toMatchObject({ code: "EADDRINUSE" });
		} finally {
			await second.stop();
		}
	});

	it("never shows a client the cause of a server error", () => {
		const { status, body } = toErrorResponse(new Error("connection to 10.0.0.5 refused, password=hunter2"));
		expect(status).toBe(500);
		expect(body).toEqual({ code: "INTERNAL_ERROR", message: "Something went wrong on our side" });
		expect(toErrorResponse(new Errors.ServiceNotFoundError({ action: "order.create" })).status).toBe(503);
		expect(toErrorResponse(new Errors.RequestTimeoutError({ action: "order.create", nodeID: "n1" })).status).toBe(504);
	});
});
