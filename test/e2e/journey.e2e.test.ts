import { jest } from "@jest/globals";
import { ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { io, type Socket } from "socket.io-client";
import { createBrokerOptions } from "../../moleculer.config.js";
import {
	AuthActions,
	Events,
	type AuthTokens,
	type Notification,
	type Order,
	type PaymentPage,
	type Product,
	type ProductPage,
} from "../../shared/contracts.js";
import { Cluster } from "../support/cluster.js";
import { testServers } from "../support/servers.js";
import { createTestEnvironment, type TestEnvironment } from "../support/test-broker.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The shopper's journey across five processes over the real RabbitMQ, Redis
 * and PostgreSQL (and jongodb for the catalog): gateway | product | order |
 * payment | auth+logs+websocket.
 */
jest.setTimeout(120_000);

interface HttpResult<T> {
	status: number;
	body: T;
	headers: Headers;
}

describe("the system across processes", () => {
	let env: TestEnvironment;
	let cluster: Cluster;
	let operator: ServiceBroker;
	let db: Sequelize;
	let adminToken: string;
	const sockets: Socket[] = [];

	const http = async <T = any>(
		method: string,
		path: string,
		options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
	): Promise<HttpResult<T>> => {
		const response = await fetch(`${cluster.apiUrl}${path}`, {
			method,
			headers: {
				...(options.body !== undefined || options.raw !== undefined ? { "content-type": "application/json" } : {}),
				...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
				...options.headers,
			},
			body: options.raw ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined),
		});
		const text = await response.text();
		return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
	};

	const registerShopper = async (name: string): Promise<AuthTokens> => {
		const email = `${name}-${Date.now()}@example.com`;
		const registered = await http<AuthTokens>("POST", "/auth/register", { body: { email, password: "correct horse", name } });
		expect(registered.status).toBe(201);
		const login = await http<AuthTokens>("POST", "/auth/login", { body: { email, password: "correct horse" } });
		expect(login.status).toBe(200);
		return login.body;
	};

	const connectSocket = async (token: string): Promise<{ socket: Socket; received: Notification<any>[] }> => {
		const socket = io(cluster.wsUrl, { auth: { token }, transports: ["websocket"], reconnection: false });
		sockets.push(socket);
		const received: Notification<any>[] = [];
		socket.onAny((_event, notification: Notification<any>) => received.push(notification));
		await new Promise<void>((resolve, reject) => {
			socket.once("connect", () => resolve());
			socket.once("connect_error", reject);
		});
		return { socket, received };
	};

	const createProduct = async (name: string, stock: number, price = 1500): Promise<Product> => {
		const created = await http<Product>("POST", "/products", { token: adminToken, body: { name, price, stock, currency: "EUR" } });
		expect(created.status).toBe(201);
		return created.body;
	};

	const countRows = async (table: string): Promise<number> => {
		const [{ count }] = await db.query<{ count: string }>(`SELECT count(*) FROM ${table}`, { type: QueryTypes.SELECT });
		return Number(count);
	};

	beforeAll(async () => {
		env = await createTestEnvironment();
		cluster = await Cluster.create(env);
		cluster.start("gateway", "api");
		cluster.start("product", "product");
		cluster.start("order", "order");
		cluster.start("payment", "payment");
		cluster.start("accounts", "auth,logs,websocket");
		await cluster.waitUntilReady();

		// The operator's way in (what `cli admin:create` does): join the cluster
		// as a node and call the internal action.
		const operatorConfig = env.config({ transporterUrl: testServers.amqpUrl, nodeId: `operator-${env.namespace}` });
		operator = new ServiceBroker({ ...createBrokerOptions(operatorConfig), logger: false });
		await operator.start();
		await operator.waitForServices(["auth"], 30_000);
		await operator.call(AuthActions.ensureAdmin.name, { email: "admin@example.com", password: "night-owl-console" });
		const login = await http<AuthTokens>("POST", "/auth/login", { body: { email: "admin@example.com", password: "night-owl-console" } });
		expect(login.body.user.role).toBe("admin");
		adminToken = login.body.accessToken;
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		for (const socket of sockets) socket.close();
		await operator?.stop();
		await cluster?.stopAll();
		await db?.close();
		await env?.drop();
	});

	it("runs a shopper's journey: register, browse, order, pay, follow it live; an admin reads the access logs", async () => {
		const product = await createProduct("Journey beans", 10, 1250);
		const shopper = await registerShopper("alice");
		const { received } = await connectSocket(shopper.accessToken);

		const listed = await http<ProductPage>("GET", "/products?pageSize=100", { token: shopper.accessToken });
		expect(listed.status).toBe(200);
		expect(listed.body.items.find((p) => p.id === product.id)).toMatchObject({ name: "Journey beans", price: 1250, available: 10 });

		// A price sent by the client is ignored: prices come from the catalog.
		const placed = await http<Order>("POST", "/orders", {
			token: shopper.accessToken,
			headers: { "Idempotency-Key": "journey-1" },
			body: { items: [{ productId: product.id, quantity: 2, price: 1 }], payment: { provider: "simulated", token: "tok_visa" } },
		});
		expect(placed.status).toBe(201);
		expect(placed.body).toMatchObject({
			status: "pending_payment",
			totalAmount: 2500,
			currency: "EUR",
			items: [{ productId: product.id, unitPrice: 1250, quantity: 2 }],
		});
		const orderId = placed.body.id;
		const orderRequestId = placed.headers.get("x-request-id");
		expect(orderRequestId).toBeTruthy();

		await waitFor(
			() => received.some((n) => n.event === Events.orderStatus && n.data.orderId === orderId && n.data.status === "paid"),
			"order.status paid on the socket",
		);
		expect(received.find((n) => n.event === Events.paymentStatus && n.data.orderId === orderId)).toMatchObject({ data: { status: "succeeded" } });
		for (const notification of received)
			expect(notification).toEqual({ id: expect.any(String), event: expect.any(String), data: expect.any(Object), at: expect.any(String) });

		const order = await http<Order>("GET", `/orders/${orderId}`, { token: shopper.accessToken });
		expect(order.body.status).toBe("paid");
		const payments = await http<PaymentPage>("GET", `/payments?orderId=${orderId}`, { token: shopper.accessToken });
		expect(payments.body.items).toEqual([expect.objectContaining({ orderId, amount: 2500, status: "succeeded" })]);
		expect((await http<Product>("GET", `/products/${product.id}`)).body.available).toBe(8);

		// The same Idempotency-Key replays the order instead of placing another.
		const replay = await http<Order>("POST", "/orders", {
			token: shopper.accessToken,
			headers: { "Idempotency-Key": "journey-1" },
			body: { items: [{ productId: product.id, quantity: 2 }], payment: { provider: "simulated", token: "tok_visa" } },
		});
		expect(replay.status).toBe(200);
		expect(replay.body.id).toBe(orderId);
		expect((await http<Product>("GET", `/products/${product.id}`)).body.available).toBe(8);

		// Another shopper cannot see it.
		const other = await registerShopper("mallory");
		expect((await http("GET", `/orders/${orderId}`, { token: other.accessToken })).status).toBe(404);

		// Access logs go gateway → logs service → Redis stream → PostgreSQL.
		const logs = await waitFor(async () => {
			const found = await http<{ items: { requestId: string; method: string; path: string; status: number; userId: string }[] }>(
				"GET",
				`/logs?userId=${shopper.user.id}`,
				{ token: adminToken },
			);
			return found.body.items?.some((entry) => entry.requestId === orderRequestId) ? found.body.items : undefined;
		}, "the order's access log entry");
		expect(logs.find((entry) => entry.requestId === orderRequestId)).toMatchObject({
			method: "POST",
			path: "/api/orders",
			status: 201,
			userId: shopper.user.id,
		});
		expect((await http("GET", "/logs", { token: shopper.accessToken })).body.error.code).toBe("FORBIDDEN");
	});

	it("keeps an order placed while the payment service is down, and charges it once the service is back", async () => {
		const product = await createProduct("Patience tea", 5);
		const shopper = await registerShopper("bob");
		await cluster.stop("payment");

		const placed = await http<Order>("POST", "/orders", { token: shopper.accessToken, body: { items: [{ productId: product.id, quantity: 1 }] } });
		expect(placed.status).toBe(201);
		await new Promise((resolve) => setTimeout(resolve, 1500));
		expect((await http<Order>("GET", `/orders/${placed.body.id}`, { token: shopper.accessToken })).body.status).toBe("pending_payment");

		cluster.start("payment", "payment");
		await waitFor(
			async () => (await http<Order>("GET", `/orders/${placed.body.id}`, { token: shopper.accessToken })).body.status === "paid",
			"the order to be paid after the payment service came back",
			60_000,
		);
		expect(await countRows(`payments.payments WHERE order_id = '${placed.body.id}'`)).toBe(1);
	});

	it("gives the stock back when the payment is declined", async () => {
		const product = await createProduct("Declined dripper", 2);
		const shopper = await registerShopper("carol");
		const placed = await http<Order>("POST", "/orders", {
			token: shopper.accessToken,
			body: { items: [{ productId: product.id, quantity: 2 }], payment: { provider: "simulated", token: "tok_chargeDeclined" } },
		});
		expect(placed.status).toBe(201);
		await waitFor(
			async () => (await http<Order>("GET", `/orders/${placed.body.id}`, { token: shopper.accessToken })).body.status === "payment_failed",
			"payment_failed",
		);
		await waitFor(async () => (await http<Product>("GET", `/products/${product.id}`)).body.available === 2, "stock back to 2");
	});

	it("sells exactly the last 5 units to 50 simultaneous orders and tells the admins it is gone", async () => {
		const product = await createProduct("Last five", 5);
		const { received: adminFeed } = await connectSocket(adminToken);
		const shoppers = await Promise.all(Array.from({ length: 5 }, (_, i) => registerShopper(`rush${i}`)));

		const results = await Promise.all(
			Array.from({ length: 50 }, (_, i) =>
				http("POST", "/orders", { token: shoppers[i % 5].accessToken, body: { items: [{ productId: product.id, quantity: 1 }] } }),
			),
		);
		const statuses = results.map((r) => r.status);
		expect(statuses.filter((s) => s === 201)).toHaveLength(5);
		expect(statuses.filter((s) => s === 409)).toHaveLength(45);
		for (const refused of results.filter((r) => r.status === 409)) {
			expect(refused.body.error).toMatchObject({ code: "OUT_OF_STOCK", requestId: expect.any(String) });
		}

		expect((await http<Product>("GET", `/products/${product.id}`)).body.available).toBe(0);
		expect(await countRows(`orders.orders o JOIN orders.order_items i ON i.order_id = o.id WHERE i.product_id = '${product.id}'`)).toBe(5);
		// The database itself refuses negative stock, whatever the code does.
		await expect(db.query(`UPDATE inventory.stock_levels SET available = -1 WHERE product_id = :id`, { replacements: { id: product.id } })).rejects.toThrow(
			/stock_never_negative/,
		);
		await waitFor(() => adminFeed.some((n) => n.event === Events.productUnavailable && n.data.productId === product.id), "product.unavailable for admins");
	});

	it("answers bad input with a clear 4xx and a stable code, and writes nothing", async () => {
		const product = await createProduct("Untouchable", 3);
		const shopper = await registerShopper("dave");
		const ordersBefore = await countRows("orders.orders");
		const paymentsBefore = await countRows("payments.payments");

		const cases: [string, Parameters<typeof http>[2], number, string][] = [
			["malformed JSON", { token: shopper.accessToken, raw: '{"items": [' }, 400, "MALFORMED_JSON"],
			["missing items", { token: shopper.accessToken, body: {} }, 422, "VALIDATION_ERROR"],
			["wrong type", { token: shopper.accessToken, body: { items: [{ productId: product.id, quantity: "two" }] } }, 422, "VALIDATION_ERROR"],
			["zero quantity", { token: shopper.accessToken, body: { items: [{ productId: product.id, quantity: 0 }] } }, 422, "VALIDATION_ERROR"],
			[
				"over 1000 units once duplicate lines are merged",
				{
					token: shopper.accessToken,
					body: {
						items: [
							{ productId: product.id, quantity: 600 },
							{ productId: product.id, quantity: 600 },
						],
					},
				},
				422,
				"VALIDATION_ERROR",
			],
			["unknown product", { token: shopper.accessToken, body: { items: [{ productId: "no-such-product", quantity: 1 }] } }, 404, "PRODUCT_NOT_FOUND"],
			[
				"unknown payment provider",
				{ token: shopper.accessToken, body: { items: [{ productId: product.id, quantity: 1 }], payment: { provider: "cash", token: "x" } } },
				422,
				"VALIDATION_ERROR",
			],
			["no token", { body: { items: [{ productId: product.id, quantity: 1 }] } }, 401, "UNAUTHORIZED"],
			["forged token", { token: `${shopper.accessToken}x`, body: { items: [{ productId: product.id, quantity: 1 }] } }, 401, "INVALID_TOKEN"],
		];
		for (const [name, options, status, code] of cases) {
			const result = await http("POST", "/orders", options);
			expect({ name, status: result.status, code: result.body?.error?.code }).toEqual({ name, status, code });
			expect(result.body.error.requestId).toEqual(expect.any(String));
			expect(JSON.stringify(result.body)).not.toMatch(/at .*\.(ts|js):\d+/);
			// Only the fields the client sent are named, never an internal action's params.
			if (code === "VALIDATION_ERROR") for (const detail of result.body.error.details) expect(detail.field).toMatch(/^(items|payment)/);
		}
		expect((await http("POST", "/products", { token: shopper.accessToken, body: { name: "Sneaky", price: 1 } })).status).toBe(403);
		// Refused before validation, across processes too: no field list for an anonymous caller.
		const anonymous = await http("POST", "/products", { body: {} });
		expect({ status: anonymous.status, code: anonymous.body.error.code, details: anonymous.body.error.details }).toEqual({
			status: 401,
			code: "UNAUTHORIZED",
			details: undefined,
		});
		expect((await http("GET", "/logs?limit=abc", { token: shopper.accessToken })).status).toBe(403);
		expect((await http("POST", "/auth/register", { body: { email: "not-an-email", password: "long enough", name: "x" } })).body.error.code).toBe(
			"VALIDATION_ERROR",
		);

		expect(await countRows("orders.orders")).toBe(ordersBefore);
		expect(await countRows("payments.payments")).toBe(paymentsBefore);
		expect((await http<Product>("GET", `/products/${product.id}`)).body.available).toBe(3);
	});
});
