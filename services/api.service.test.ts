import { jest } from "@jest/globals";
import { Errors, ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { QueryTypes, Sequelize } from "sequelize";
import { createBrokerOptions } from "../moleculer.config.js";
import { OrderActions, type AuthTokens, type Order, type PaymentPage, type Product } from "../shared/contracts.js";
import { DependencyUnavailableError } from "../shared/errors.js";
import { withConfig } from "../shared/service-settings.js";
import { freePort } from "../test/support/cluster.js";
import { createTestEnvironment, startBroker, testUsers, tokenFor, type TestEnvironment } from "../test/support/test-broker.js";
import { waitFor } from "../test/support/wait-for.js";
import ApiService, { toErrorResponse, type ErrorBody } from "./api.service.js";
import AuthService from "./auth/auth.service.js";
import OrderService from "./order/order.service.js";
import PaymentService from "./payment/payment.service.js";
import ProductService from "./product/product.service.js";

type Details = { field: string; type: string; message: string; actual?: unknown; expected?: unknown }[];
// Moleculer 0.14's typings leave it out; the class is there.
const { BrokerDisconnectedError } = Errors as unknown as { BrokerDisconnectedError: new () => Error };
const errorOf = async (response: Response) => ((await response.json()) as ErrorBody).error as ErrorBody["error"] & { details?: Details };

describe("api gateway", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let base: string;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		// order, payment and logs deliberately absent: readiness must say so.
		broker = await startBroker(env, [ApiService, AuthService, ProductService], { port });
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

		const invalid = await fetch(`${base}/auth/register`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "x" }),
		});
		expect(invalid.status).toBe(422);
		const invalidBody = (await invalid.json()) as { error: { code: string; details: { field: string }[] } };
		expect(invalidBody.error.code).toBe("VALIDATION_ERROR");
		expect(invalidBody.error.details.map((d) => d.field).sort()).toEqual(["email", "name", "password"]);
		expect(JSON.stringify(invalidBody)).not.toMatch(/nodeID|action/);
	});

	it("names the field, what was sent and what is allowed in a validation error, never a password", async () => {
		const sorted = await fetch(`${base}/products?sort=foo`);
		expect(sorted.status).toBe(422);
		const sortError = await errorOf(sorted);
		expect(sortError).toMatchObject({ code: "VALIDATION_ERROR", message: "Invalid or missing fields: sort" });
		expect(sortError.details).toEqual([
			{
				field: "sort",
				type: "enumValue",
				message: "The 'sort' field must be one of name, -name, price, -price, createdAt, -createdAt; got 'foo'.",
				actual: "foo",
				expected: "name, -name, price, -price, createdAt, -createdAt",
			},
		]);

		const paged = await errorOf(await fetch(`${base}/products?pageSize=500&page=abc`));
		expect(paged.details).toEqual(
			expect.arrayContaining([
				expect.objectContaining({ field: "pageSize", message: "The 'pageSize' field must be at most 100; got 500.", actual: "500", expected: 100 }),
				expect.objectContaining({ field: "page", message: "The 'page' field must be a number; got 'abc'." }),
			]),
		);

		const short = await fetch(`${base}/auth/register`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "short@example.com", password: "hunter2", name: "Short" }),
		});
		expect(short.status).toBe(422);
		const shortError = await errorOf(short);
		expect(shortError.details).toEqual([
			{ field: "password", type: "stringMin", message: "The 'password' field must be at least 8 characters long; got 7.", actual: 7, expected: 8 },
		]);
		expect(JSON.stringify(shortError)).not.toMatch(/hunter2/);
	});

	it("refuses contradictory price filters with 422 naming both fields", async () => {
		const response = await fetch(`${base}/products?minPrice=5000&maxPrice=2000`);
		expect(response.status).toBe(422);
		const error = await errorOf(response);
		expect(error.code).toBe("VALIDATION_ERROR");
		expect(error.message).toBe("Invalid or missing fields: minPrice, maxPrice");
		expect(error.details!.map((d) => d.field)).toEqual(["minPrice", "maxPrice"]);
		expect(error.details![0]).toMatchObject({ actual: 5000, expected: 2000 });
		expect((await fetch(`${base}/products?minPrice=2000&maxPrice=2000`)).status).toBe(200);
	});

	it("answers 415 UNSUPPORTED_MEDIA_TYPE to a body that is not JSON; bodyless requests are unaffected", async () => {
		const credentials = JSON.stringify({ email: "media@example.com", password: "a long password", name: "Media" });
		for (const headers of [
			{},
			{ "content-type": "text/plain" },
			{ "content-type": "application/x-www-form-urlencoded" },
			{ "content-type": "application/jsonp" },
		] as Record<string, string>[]) {
			const response = await fetch(`${base}/auth/register`, { method: "POST", headers, body: credentials });
			expect({ headers, status: response.status, code: (await errorOf(response)).code }).toEqual({
				headers,
				status: 415,
				code: "UNSUPPORTED_MEDIA_TYPE",
			});
		}
		// Refused before anything ran: the account does not exist.
		const login = await fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: credentials });
		expect((await errorOf(login)).code).toBe("INVALID_CREDENTIALS");
		// A JSON body whose charset body-parser cannot read is refused the same way.
		const latin = await fetch(`${base}/auth/login`, { method: "POST", headers: { "content-type": "application/json; charset=latin1" }, body: credentials });
		expect({ status: latin.status, code: (await errorOf(latin)).code }).toEqual({ status: 415, code: "UNSUPPORTED_MEDIA_TYPE" });

		expect((await fetch(`${base}/products`, { headers: { "content-type": "text/plain" } })).status).toBe(200);
		const charset = await fetch(`${base}/auth/register`, {
			method: "POST",
			headers: { "content-type": "Application/JSON; charset=utf-8" },
			body: credentials,
		});
		expect(charset.status).toBe(201);
	});

	it("sends a Location with every 201", async () => {
		const registered = await fetch(`${base}/auth/register`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "located@example.com", password: "a long password", name: "Located" }),
		});
		expect(registered.status).toBe(201);
		expect(registered.headers.get("location")).toBe("/api/auth/me");
		const me = await fetch(new URL(registered.headers.get("location")!, base), {
			headers: { authorization: `Bearer ${((await registered.json()) as AuthTokens).accessToken}` },
		});
		expect(((await me.json()) as { email: string }).email).toBe("located@example.com");

		const created = await fetch(`${base}/products`, {
			method: "POST",
			headers: { "content-type": "application/json", authorization: `Bearer ${await tokenFor(env, testUsers.admin)}` },
			body: JSON.stringify({ name: "Located mug", price: 700 }),
		});
		expect(created.status).toBe(201);
		const product = (await created.json()) as Product;
		expect(created.headers.get("location")).toBe(`/api/products/${product.id}`);
		expect(((await (await fetch(new URL(created.headers.get("location")!, base))).json()) as Product).name).toBe("Located mug");
	});

	it("answers a product id that cannot exist with 404 PRODUCT_NOT_FOUND, like any unknown id", async () => {
		for (const id of ["nope", "x".repeat(100)]) {
			const response = await fetch(`${base}/products/${id}`);
			expect({ status: response.status, code: (await errorOf(response)).code }).toEqual({ status: 404, code: "PRODUCT_NOT_FOUND" });
		}
	});

	it("answers 503 SERVICE_UNAVAILABLE, not 500, for a route whose service has no live node, and logs it once as a warning", async () => {
		const token = await tokenFor(env, testUsers.alice);
		const { logger } = broker.getLocalService("api")!;
		const warn = jest.spyOn(logger, "warn");
		const error = jest.spyOn(logger, "error");
		for (const path of ["/orders", "/payments"]) {
			const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, "X-Request-ID": "req-503" } });
			expect({ path, status: response.status, body: await response.json() }).toEqual({
				path,
				status: 503,
				body: {
					error: {
						code: "SERVICE_UNAVAILABLE",
						message: "A service needed for this request is unavailable; try again shortly",
						requestId: "req-503",
					},
				},
			});
		}
		expect(error).not.toHaveBeenCalled();
		expect(warn.mock.calls.map(([line]) => line)).toEqual([
			expect.stringMatching(/^GET \/api\/orders answered 503: ServiceUnavailableError: /),
			expect.stringMatching(/^GET \/api\/payments answered 503: ServiceUnavailableError: /),
		]);
		warn.mockRestore();
		error.mockRestore();
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
			headers: { "content-type": "application/json", authorization: `Bearer ${await tokenFor(env, testUsers.alice)}` },
			body: "{}",
		});
		expect(customerEmpty.status).toBe(403);
		expect((await create()).status).toBe(401);
		expect((await create(await tokenFor(env, testUsers.alice))).status).toBe(403);
		expect((await create(await tokenFor(env, testUsers.admin))).status).toBe(201);
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
		const config = env.config({ port: Number(new URL(base).port) });
		const second = new ServiceBroker({ ...createBrokerOptions(config), logger: false });
		second.createService(withConfig(ApiService, config));
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
		expect(toErrorResponse(new Errors.RequestTimeoutError({ action: OrderActions.create.name, nodeID: "n1" }))).toEqual({
			status: 504,
			body: { code: "TIMEOUT", message: "The request took too long; try again shortly" },
		});
	});

	it("answers every outage with 503 SERVICE_UNAVAILABLE, without the cause", () => {
		const outages: [string, Error][] = [
			["no node runs the service", new Errors.ServiceNotFoundError({ action: OrderActions.create.name })],
			["its nodes are not available", new Errors.ServiceNotAvailableError({ action: OrderActions.create.name, nodeID: "n1" })],
			["moleculer-web found no endpoint for the alias", new ApiGateway.Errors.ServiceUnavailableError("", undefined)],
			["this node lost the transporter", new BrokerDisconnectedError()],
			["a service's database is unreachable", new DependencyUnavailableError("PostgreSQL at 10.0.0.5:5432", new Error("ECONNREFUSED 10.0.0.5:5432"))],
			["any other 503", new Errors.MoleculerRetryableError("redis 10.0.0.6 is down", 503)],
		];
		for (const [name, err] of outages) {
			expect({ name, ...toErrorResponse(err) }).toEqual({
				name,
				status: 503,
				body: { code: "SERVICE_UNAVAILABLE", message: "A service needed for this request is unavailable; try again shortly" },
			});
		}
	});
});

describe("api gateway in front of orders and payments", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let base: string;
	let token: string;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService], { port });
		base = `http://127.0.0.1:${port}/api`;
		db = new Sequelize(env.databaseUrl, { logging: false });
		token = await tokenFor(env, testUsers.alice);
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const call = async <T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
		const response = await fetch(`${base}${path}`, {
			method,
			headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		return { status: response.status, headers: response.headers, body: (await response.json()) as T & ErrorBody };
	};
	const product = async (name: string, stock: number) =>
		(await call<Product>("POST", "/products", { name, price: 100, stock }, { authorization: `Bearer ${await tokenFor(env, testUsers.admin)}` })).body;
	const available = async (productId: string) => (await call<Product>("GET", `/products/${productId}`)).body.available;
	const orderRows = async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM orders.orders`, { type: QueryTypes.SELECT }))[0].n);

	it("places an order with a Location, its lines in the order they were sent", async () => {
		// Sent in descending product id order, the opposite of how stock is locked.
		const [first, second, third] = [await product("Tea A", 10), await product("Tea B", 10), await product("Tea C", 10)].sort((a, b) =>
			b.id.localeCompare(a.id),
		);
		const placed = await call<Order>("POST", "/orders", {
			items: [
				{ productId: first.id, quantity: 1 },
				{ productId: second.id, quantity: 2 },
				{ productId: third.id, quantity: 1 },
				{ productId: first.id, quantity: 2 },
			],
		});
		expect(placed.status).toBe(201);
		expect(placed.headers.get("location")).toBe(`/api/orders/${placed.body.id}`);
		const sent = [
			[first.id, 3],
			[second.id, 2],
			[third.id, 1],
		];
		expect(placed.body.items.map((i) => [i.productId, i.quantity])).toEqual(sent);
		const read = await call<Order>("GET", new URL(placed.headers.get("location")!, base).pathname.replace(/^\/api/, ""));
		expect(read.body.items.map((i) => [i.productId, i.quantity])).toEqual(sent);
		const listed = await call<{ items: Order[] }>("GET", "/orders");
		expect(listed.body.items.find((o) => o.id === placed.body.id)!.items.map((i) => i.productId)).toEqual([first.id, second.id, third.id]);
	});

	it("answers a malformed order id with 404 ORDER_NOT_FOUND, as products do", async () => {
		for (const id of ["nope", "00000000-0000-4000-8000-00000000000z", "x".repeat(300)]) {
			const response = await call("GET", `/orders/${id}`);
			expect({ id, status: response.status, code: response.body.error.code }).toEqual({ id, status: 404, code: "ORDER_NOT_FOUND" });
		}
	});

	it("refuses an unknown payment token at order time with 422 PAYMENT_TOKEN_INVALID, reserving nothing", async () => {
		const item = await product("Token mug", 5);
		const ordersBefore = await orderRows();
		const refused = await call("POST", "/orders", { items: [{ productId: item.id, quantity: 2 }], payment: { provider: "simulated", token: "tok_bogus" } });
		expect(refused.status).toBe(422);
		expect(refused.body.error).toMatchObject({ code: "PAYMENT_TOKEN_INVALID", details: { field: "payment.token", provider: "simulated" } });
		expect(refused.body.error.message).toMatch(/'payment\.token'/);
		expect(await orderRows()).toBe(ordersBefore);
		expect(await available(item.id)).toBe(5);

		const provider = await call("POST", "/orders", { items: [{ productId: item.id, quantity: 1 }], payment: { provider: "paypal", token: "tok_visa" } });
		expect(provider.status).toBe(422);
		expect(provider.body.error.details).toEqual([
			expect.objectContaining({ field: "payment.provider", message: "The 'payment.provider' field must be one of simulated; got 'paypal'." }),
		]);
	});

	it("lists payments as a page, like every other list", async () => {
		const item = await product("Paged payment", 5);
		const placed = await call<Order>("POST", "/orders", { items: [{ productId: item.id, quantity: 1 }] });
		await waitFor(
			async () => (await call<PaymentPage>("GET", `/payments?orderId=${placed.body.id}`)).body.items[0]?.status === "succeeded",
			"the payment to succeed",
			10_000,
			25,
		);
		const page = await call<PaymentPage>("GET", `/payments?orderId=${placed.body.id}`);
		expect(page.body).toEqual({
			items: [expect.objectContaining({ orderId: placed.body.id, status: "succeeded" })],
			page: 1,
			pageSize: 20,
			total: 1,
			totalPages: 1,
		});
		const all = await call<PaymentPage>("GET", "/payments?pageSize=1");
		expect(all.body).toMatchObject({ page: 1, pageSize: 1, total: expect.any(Number) });
		expect(all.body.items).toHaveLength(1);
		expect(all.body.totalPages).toBe(all.body.total);
	});

	it("answers 503 SERVICE_UNAVAILABLE when the product service has no live node, directly or behind an order", async () => {
		const item = await product("Outage mug", 5);
		await broker.destroyService(broker.getLocalService("product")!);
		const listed = await call("GET", "/products");
		expect({ status: listed.status, code: listed.body.error.code }).toEqual({ status: 503, code: "SERVICE_UNAVAILABLE" });
		const ordered = await call("POST", "/orders", { items: [{ productId: item.id, quantity: 1 }] });
		expect({ status: ordered.status, code: ordered.body.error.code, message: ordered.body.error.message }).toEqual({
			status: 503,
			code: "SERVICE_UNAVAILABLE",
			message: "A service needed for this request is unavailable; try again shortly",
		});
	});
});
