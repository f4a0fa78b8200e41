import { gzipSync } from "node:zlib";
import type { ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import ApiService from "../../services/api.service.js";
import AuthService from "../../services/auth/auth.service.js";
import OrderService from "../../services/order/order.service.js";
import PaymentService from "../../services/payment/payment.service.js";
import ProductService from "../../services/product/product.service.js";
import WebsocketService from "../../services/websocket/websocket.service.js";
import { ProductActions, WebsocketActions, type Product } from "../../shared/contracts.js";
import { freePort } from "../support/cluster.js";
import { createTestEnvironment, startBroker, testUsers, tokenFor, type TestEnvironment } from "../support/test-broker.js";

/**
 * OWASP API4 (unrestricted resource consumption) and API8 (security
 * misconfiguration), through the running gateway: input that once answered
 * 500 now answers 4xx with a stable code and writes nothing; every answer
 * carries the security headers; the socket.io port trusts no foreign origin
 * and answers every path.
 */
describe("input and headers at the gateway", () => {
	const trustedOrigin = "https://shop.example.com";
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let base: string;
	let wsBase: string;
	let token: string;
	let product: Product;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService, WebsocketService], {
			port,
			wsPort: 0,
			corsOrigins: [trustedOrigin],
		});
		base = `http://127.0.0.1:${port}/api`;
		wsBase = `http://127.0.0.1:${(await broker.call<{ port: number }>(WebsocketActions.info.name)).port}`;
		token = await tokenFor(env, testUsers.alice);
		product = await broker.call<Product, object>(ProductActions.create.name, { name: "Mug", price: 1200, stock: 5 }, { meta: { user: testUsers.admin } });
		db = new Sequelize(env.databaseUrl, { dialect: "postgres", logging: false });
	});

	afterAll(async () => {
		await db?.close();
		await broker?.stop();
		await env?.drop();
	});

	const count = async (table: string) => Number((await db.query<{ count: string }>(`SELECT count(*) FROM ${table}`, { type: QueryTypes.SELECT }))[0].count);
	const send = (path: string, init: RequestInit & { json?: unknown } = {}) =>
		fetch(`${base}${path}`, {
			...init,
			headers: { authorization: `Bearer ${token}`, ...(init.json !== undefined && { "content-type": "application/json" }), ...init.headers },
			body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
		});
	const answer = async (response: Response) => ({ status: response.status, code: ((await response.json()) as { error?: { code: string } }).error?.code });

	it("answers malformed input with a 4xx and a stable code, never a 500, and writes nothing", async () => {
		const before = { users: await count("auth.users"), orders: await count("orders.orders") };
		// Written as text: JSON.stringify itself would overflow the stack.
		const deep = `{"email":"a@b.test","password":${"[".repeat(40_000)}${"]".repeat(40_000)}}`;
		const cases: [string, () => Promise<Response>, { status: number; code: string }][] = [
			["a NUL in a search", () => send("/products?q=%00"), { status: 422, code: "VALIDATION_ERROR" }],
			["a page past any catalog", () => send("/products?page=1e15"), { status: 422, code: "VALIDATION_ERROR" }],
			["a page of 1e308 orders", () => send("/orders?page=1e308"), { status: 422, code: "VALIDATION_ERROR" }],
			[
				"gzip that is not gzip",
				() => send("/auth/login", { method: "POST", body: "not gzip", headers: { "content-type": "application/json", "content-encoding": "gzip" } }),
				{ status: 400, code: "MALFORMED_BODY" },
			],
			[
				"a 40,000-deep array",
				() => send("/auth/login", { method: "POST", body: deep, headers: { "content-type": "application/json" } }),
				{ status: 422, code: "VALIDATION_ERROR" },
			],
			[
				"a name with a NUL",
				() => send("/auth/register", { method: "POST", json: { email: "nul@test.local", password: "long-enough-pw", name: "A\u0000B" } }),
				{ status: 422, code: "VALIDATION_ERROR" },
			],
			[
				"a payment token with half a surrogate pair",
				() =>
					send("/orders", {
						method: "POST",
						json: { items: [{ productId: product.id, quantity: 1 }], payment: { provider: "simulated", token: "tok_\ud800" } },
					}),
				{ status: 422, code: "VALIDATION_ERROR" },
			],
		];
		for (const [what, request, expected] of cases) expect({ what, ...(await answer(await request())) }).toEqual({ what, ...expected });
		expect({ users: await count("auth.users"), orders: await count("orders.orders") }).toEqual(before);
	});

	it("still takes a gzipped JSON body that is what it says", async () => {
		const body = gzipSync(JSON.stringify({ email: "gzip@test.local", password: "long-enough-pw", name: "Gzip" }));
		const response = await send("/auth/register", { method: "POST", body, headers: { "content-type": "application/json", "content-encoding": "gzip" } });
		expect(response.status).toBe(201);
	});

	it("sends the security headers on every answer: a success, an error, an unknown route", async () => {
		const answers = [await send("/products"), await send("/orders/nope"), await send("/no-such-route"), await send("/health/live")];
		for (const response of answers) {
			expect({
				status: response.status,
				headers: Object.fromEntries(["x-content-type-options", "cache-control", "x-frame-options"].map((h) => [h, response.headers.get(h)])),
			}).toEqual({
				status: response.status,
				headers: { "x-content-type-options": "nosniff", "cache-control": "no-store", "x-frame-options": "DENY" },
			});
		}
	});

	it("tells an anonymous caller of /health/live nothing about the host", async () => {
		const body = (await (await fetch(`${base}/health/live`)).json()) as Record<string, unknown>;
		expect(Object.keys(body).sort()).toEqual(["status", "uptimeSeconds"]);
	});

	it("lets only the configured origins' pages open a socket.io connection, and answers other paths on its port", async () => {
		const handshake = (origin: string) => fetch(`${wsBase}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
		expect((await handshake("http://evil.test")).headers.get("access-control-allow-origin")).toBeNull();
		expect((await handshake(trustedOrigin)).headers.get("access-control-allow-origin")).toBe(trustedOrigin);
		const other = await fetch(`${wsBase}/`, { signal: AbortSignal.timeout(5000) });
		expect(await answer(other)).toEqual({ status: 404, code: "ROUTE_NOT_FOUND" });
	});
});
