import { randomUUID } from "node:crypto";
import type { Service, ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import {
	Channels,
	Events,
	OrderActions,
	PaymentActions,
	ProductActions,
	type AuthUser,
	type Order,
	type OrderPage,
	type OrderStatusEvent,
	type PaymentPage,
	type PaymentSettledMessage,
	type Product,
} from "../../shared/contracts.js";
import { migrate } from "../../shared/mixins/postgres.mixin.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import PaymentService from "../payment/payment.service.js";
import ProductService from "../product/product.service.js";
import { createOrders } from "./migrations/0001-create-orders.js";
import { createOutbox } from "./migrations/0003-create-outbox.js";
import { migrations } from "./migrations/index.js";
import OrderService from "./order.service.js";

/** What @moleculer/channels adds to a service: runs its channel handler in process and waits for it. */
type ChannelService = Service & { emitLocalChannelHandler(channel: string, payload: unknown): Promise<void> };

describe("order service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	const statusEvents: OrderStatusEvent[] = [];
	const as = (user: AuthUser, extra: Record<string, unknown> = {}) => ({ meta: { user, ...extra } });

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [
			ProductService,
			OrderService,
			PaymentService,
			{
				name: "status-listener",
				events: { [Events.orderStatus]: { handler: (ctx: { params: OrderStatusEvent }) => void statusEvents.push(ctx.params) } },
			},
		]);
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const product = (name: string, price: number, stock: number) =>
		broker.call<Product, object>(ProductActions.create.name, { name, price, stock }, as(testUsers.admin));
	const createOrder = (user: AuthUser, params: Record<string, unknown>, idempotencyKey?: string) =>
		broker.call<Order, Record<string, unknown>>(OrderActions.create.name, params, as(user, idempotencyKey ? { idempotencyKey } : {}));
	const getOrder = (id: string, user: AuthUser = testUsers.admin) => broker.call<Order, object>(OrderActions.get.name, { id }, as(user));
	const available = async (productId: string) => {
		const [row] = await db.query<{ available: number }>(`SELECT available FROM inventory.stock_levels WHERE product_id = :productId`, {
			replacements: { productId },
			type: QueryTypes.SELECT,
		});
		return row.available;
	};
	const count = async (sql: string, replacements: Record<string, unknown> = {}) => {
		const [row] = await db.query<{ count: string }>(sql, { replacements, type: QueryTypes.SELECT });
		return Number(row.count);
	};
	const orderRows = () => count(`SELECT count(*) FROM orders.orders`);
	const reservationsOf = (productId: string) => count(`SELECT count(*) FROM inventory.reservations WHERE product_id = :productId`, { productId });
	const paymentsOf = async (orderId: string, user: AuthUser = testUsers.alice) =>
		(await broker.call<PaymentPage, object>(PaymentActions.list.name, { orderId }, as(user))).items;
	const settled = (id: string, status: Order["status"]) =>
		waitFor(async () => (await getOrder(id)).status === status, `order ${id} to become ${status}`, 10_000, 25);

	it("prices from the catalog, ignores client prices, merges duplicate lines and sums the total", async () => {
		const beans = await product("Beans", 1500, 10);
		const filter = await product("Filter", 250, 10);
		const order = await createOrder(testUsers.alice, {
			items: [
				{ productId: beans.id, quantity: 2, price: 1, unitPrice: 1 },
				{ productId: filter.id, quantity: 1, price: 0 },
				{ productId: beans.id, quantity: 1 },
			],
			totalAmount: 1,
			status: "paid",
		});
		expect(order).toMatchObject({ userId: testUsers.alice.id, status: "pending_payment", currency: "EUR", totalAmount: 3 * 1500 + 250 });
		// Merged where the product first appeared.
		expect(order.items).toEqual([
			{ productId: beans.id, name: "Beans", unitPrice: 1500, quantity: 3, lineTotal: 4500 },
			{ productId: filter.id, name: "Filter", unitPrice: 250, quantity: 1, lineTotal: 250 },
		]);
		expect(order.totalAmount).toBe(order.items.reduce((sum, item) => sum + item.lineTotal, 0));
		// The merged quantity is what was reserved.
		expect(await available(beans.id)).toBe(7);
		expect(await available(filter.id)).toBe(9);
		// What is stored is what was answered.
		expect(await getOrder(order.id, testUsers.alice)).toMatchObject({ id: order.id, totalAmount: 4750, items: order.items });
		await settled(order.id, "paid");
	});

	it("keeps the lines in the order they were sent, in the answer, the stored order and the list", async () => {
		const made = await Promise.all(["Line 1", "Line 2", "Line 3", "Line 4"].map((name) => product(name, 100, 10)));
		// Descending product id: the opposite of the order the stock is locked in.
		const sent = made
			.map((p) => p.id)
			.sort()
			.reverse();
		const order = await createOrder(testUsers.alice, {
			items: [...sent.map((productId) => ({ productId, quantity: 1 })), { productId: sent[2], quantity: 4 }],
		});
		expect(order.items.map((i) => [i.productId, i.quantity])).toEqual([
			[sent[0], 1],
			[sent[1], 1],
			[sent[2], 5],
			[sent[3], 1],
		]);
		expect((await getOrder(order.id, testUsers.alice)).items).toEqual(order.items);
		const listed = await broker.call<OrderPage, object>(OrderActions.list.name, { pageSize: 100 }, as(testUsers.alice));
		expect(listed.items.find((o) => o.id === order.id)!.items).toEqual(order.items);
		const stored = await db.query<{ product_id: string; position: number }>(
			`SELECT product_id, position FROM orders.order_items WHERE order_id = :id ORDER BY position`,
			{
				replacements: { id: order.id },
				type: QueryTypes.SELECT,
			},
		);
		expect(stored).toEqual(sent.map((product_id, position) => ({ product_id, position })));
		expect(await available(sent[2])).toBe(5);
		await settled(order.id, "paid");
	});

	it("numbers the lines of orders stored before positions existed by product id", async () => {
		const other = await createTestEnvironment();
		const old = new Sequelize(other.databaseUrl, { logging: false });
		try {
			await migrate(old, { schema: "orders", migrations: [createOrders, createOutbox] });
			const orderId = randomUUID();
			await old.query(
				`INSERT INTO orders.orders (id, user_id, status, currency, total_amount, payment_provider, request_hash) VALUES (:orderId, :userId, 'paid', 'EUR', 300, 'simulated', 'h')`,
				{ replacements: { orderId, userId: testUsers.alice.id } },
			);
			for (const productId of ["c", "a", "b"]) {
				await old.query(
					`INSERT INTO orders.order_items (order_id, product_id, name, unit_price, quantity, line_total) VALUES (:orderId, :productId, :productId, 100, 1, 100)`,
					{
						replacements: { orderId, productId },
					},
				);
			}
			await migrate(old, { schema: "orders", migrations });
			const rows = await old.query(`SELECT product_id, position FROM orders.order_items ORDER BY position`, { type: QueryTypes.SELECT });
			expect(rows).toEqual([
				{ product_id: "a", position: 0 },
				{ product_id: "b", position: 1 },
				{ product_id: "c", position: 2 },
			]);
			// Two lines of one order cannot share a place.
			await expect(old.query(`UPDATE orders.order_items SET position = 0 WHERE product_id = 'b'`)).rejects.toMatchObject({
				name: "SequelizeUniqueConstraintError",
				parent: { constraint: "order_items_position_unique" },
			});
		} finally {
			await old.close();
			await other.drop();
		}
	});

	it("refuses a payment token the provider does not accept with 422 PAYMENT_TOKEN_INVALID, reserving and writing nothing", async () => {
		const item = await product("Token item", 100, 5);
		const ordersBefore = await orderRows();
		await expect(
			createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 2 }], payment: { provider: "simulated", token: "tok_bogus" } }, "key-bogus"),
		).rejects.toMatchObject({ code: 422, type: "PAYMENT_TOKEN_INVALID", data: { field: "payment.token", provider: "simulated" } });
		expect(await orderRows()).toBe(ordersBefore);
		expect(await available(item.id)).toBe(5);
		expect(await reservationsOf(item.id)).toBe(0);
		// Every test token is still taken.
		for (const token of ["tok_visa", "tok_chargeDeclined", "tok_insufficientFunds", "tok_timeout"]) {
			const order = await createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 1 }], payment: { provider: "simulated", token } });
			expect(order.status).toBe("pending_payment");
		}
	});

	it("refuses an unknown product with 404 PRODUCT_NOT_FOUND and writes nothing", async () => {
		const known = await product("Known", 100, 5);
		const unknownId = randomUUID();
		const ordersBefore = await orderRows();
		await expect(
			createOrder(testUsers.alice, {
				items: [
					{ productId: known.id, quantity: 2 },
					{ productId: unknownId, quantity: 1 },
				],
			}),
		).rejects.toMatchObject({ code: 404, type: "PRODUCT_NOT_FOUND", data: { productIds: [unknownId] } });
		expect(await orderRows()).toBe(ordersBefore);
		expect(await available(known.id)).toBe(5);
		expect(await reservationsOf(known.id)).toBe(0);
	});

	it("refuses an order beyond the stock with 409 OUT_OF_STOCK and writes nothing", async () => {
		const plenty = await product("Plenty", 100, 50);
		const scarce = await product("Scarce", 100, 2);
		const ordersBefore = await orderRows();
		await expect(
			createOrder(testUsers.alice, {
				items: [
					{ productId: plenty.id, quantity: 5 },
					{ productId: scarce.id, quantity: 3 },
				],
			}),
		).rejects.toMatchObject({ code: 409, type: "OUT_OF_STOCK", data: { shortages: [{ productId: scarce.id, requested: 3, available: 2 }] } });
		expect(await orderRows()).toBe(ordersBefore);
		expect(await available(plenty.id)).toBe(50);
		expect(await available(scarce.id)).toBe(2);
	});

	it("rejects bad input and anonymous callers without writing anything", async () => {
		const item = await product("Valid", 100, 5);
		const ordersBefore = await orderRows();
		for (const bad of [
			{ items: [] },
			{ items: [{ productId: item.id, quantity: 0 }] },
			{ items: [{ productId: item.id, quantity: 1.5 }] },
			{ items: [{ productId: item.id, quantity: 1 }], payment: { provider: "paypal", token: "tok_visa" } },
		]) {
			await expect(createOrder(testUsers.alice, bad)).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		}
		await expect(broker.call(OrderActions.create.name, { items: [{ productId: item.id, quantity: 1 }] })).rejects.toMatchObject({
			code: 401,
			type: "UNAUTHORIZED",
		});
		expect(await orderRows()).toBe(ordersBefore);
		expect(await available(item.id)).toBe(5);
	});

	it("replays an Idempotency-Key without reserving twice, and refuses the key for another body", async () => {
		const mug = await product("Idempotent mug", 800, 10);
		const body = { items: [{ productId: mug.id, quantity: 2 }] };
		const first = await createOrder(testUsers.alice, body, "key-1");
		const again = await createOrder(testUsers.alice, body, "key-1");
		expect(again.id).toBe(first.id);
		expect(again.totalAmount).toBe(1600);
		expect(await available(mug.id)).toBe(8);
		// Replayed without touching the stock: one reservation was ever made.
		expect(await reservationsOf(mug.id)).toBe(1);
		expect(await count(`SELECT count(*) FROM orders.orders WHERE idempotency_key = 'key-1'`)).toBe(1);

		await expect(createOrder(testUsers.alice, { items: [{ productId: mug.id, quantity: 3 }] }, "key-1")).rejects.toMatchObject({
			code: 409,
			type: "IDEMPOTENCY_KEY_REUSED",
			data: { orderId: first.id },
		});
		expect(await available(mug.id)).toBe(8);

		// Keys belong to their user: bob's "key-1" is bob's own order.
		const bobs = await createOrder(testUsers.bob, body, "key-1");
		expect(bobs.id).not.toBe(first.id);
		expect(bobs.userId).toBe(testUsers.bob.id);
		expect(await available(mug.id)).toBe(6);
		await settled(first.id, "paid");
		await settled(bobs.id, "paid");
	});

	it("makes one order of concurrent requests with the same Idempotency-Key", async () => {
		const kettle = await product("Concurrent kettle", 3000, 10);
		const body = { items: [{ productId: kettle.id, quantity: 1 }] };
		const results = await Promise.all(Array.from({ length: 5 }, () => createOrder(testUsers.alice, body, "key-concurrent")));
		expect(new Set(results.map((o) => o.id)).size).toBe(1);
		expect(await count(`SELECT count(*) FROM orders.orders WHERE idempotency_key = 'key-concurrent'`)).toBe(1);
		// Reservations made by the requests that lost the race were given back.
		expect(await available(kettle.id)).toBe(9);
		await settled(results[0].id, "paid");
	});

	it("tok_visa: the order becomes paid", async () => {
		const item = await product("Paid item", 1200, 3);
		const order = await createOrder(testUsers.alice, {
			items: [{ productId: item.id, quantity: 1 }],
			payment: { provider: "simulated", token: "tok_visa" },
		});
		await settled(order.id, "paid");
		const payments = await paymentsOf(order.id);
		expect(payments).toEqual([expect.objectContaining({ orderId: order.id, amount: 1200, currency: "EUR", status: "succeeded", failureCode: null })]);
		// Paid stock stays sold, even if a stray failure for the order arrives later.
		expect(await available(item.id)).toBe(2);
		const orderService = broker.getLocalService("order") as ChannelService;
		await orderService.emitLocalChannelHandler(Channels.paymentSettled, {
			paymentId: payments[0].id,
			orderId: order.id,
			userId: testUsers.alice.id,
			status: "failed",
			failureCode: "card_declined",
		} satisfies PaymentSettledMessage);
		expect((await getOrder(order.id)).status).toBe("paid");
		expect(await available(item.id)).toBe(2);
	});

	it("tok_chargeDeclined: the order becomes payment_failed and the stock is given back", async () => {
		const item = await product("Declined item", 1200, 3);
		const order = await createOrder(testUsers.alice, {
			items: [{ productId: item.id, quantity: 2 }],
			payment: { provider: "simulated", token: "tok_chargeDeclined" },
		});
		expect(order.status).toBe("pending_payment");
		await settled(order.id, "payment_failed");
		expect(await available(item.id)).toBe(3);
		const payments = await paymentsOf(order.id);
		expect(payments).toEqual([expect.objectContaining({ status: "failed", failureCode: "card_declined" })]);
		const history = await db.query<{ from_status: string | null; to_status: string }>(
			`SELECT from_status, to_status FROM orders.order_status_history WHERE order_id = :id ORDER BY id`,
			{ replacements: { id: order.id }, type: QueryTypes.SELECT },
		);
		expect(history).toEqual([
			{ from_status: null, to_status: "pending_payment" },
			{ from_status: "pending_payment", to_status: "payment_failed" },
		]);
	});

	it("applies a settlement once, however many times it is delivered", async () => {
		const item = await product("Settled once", 700, 4);
		// tok_timeout: the payment stays pending, so only the deliveries below settle the order.
		const order = await createOrder(testUsers.alice, {
			items: [{ productId: item.id, quantity: 2 }],
			payment: { provider: "simulated", token: "tok_timeout" },
		});
		await waitFor(async () => (await paymentsOf(order.id, testUsers.admin))[0]?.status === "pending", "the payment to be pending", 10_000, 25);
		const settlement: PaymentSettledMessage = {
			paymentId: randomUUID(),
			orderId: order.id,
			userId: testUsers.alice.id,
			status: "failed",
			failureCode: "card_declined",
		};
		const orderService = broker.getLocalService("order") as ChannelService;
		await Promise.all([1, 2, 3].map(() => orderService.emitLocalChannelHandler(Channels.paymentSettled, settlement)));
		await orderService.emitLocalChannelHandler(Channels.paymentSettled, { ...settlement, status: "succeeded", failureCode: null });

		expect((await getOrder(order.id)).status).toBe("payment_failed");
		expect(await available(item.id)).toBe(4);
		expect(statusEvents.filter((e) => e.orderId === order.id).map((e) => e.status)).toEqual(["pending_payment", "payment_failed"]);
		expect(await count(`SELECT count(*) FROM orders.order_status_history WHERE order_id = :id`, { id: order.id })).toBe(2);
	});

	it("hides someone else's order as 404 ORDER_NOT_FOUND; an admin can read it", async () => {
		const item = await product("Private item", 500, 5);
		const order = await createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 1 }] });
		await expect(getOrder(order.id, testUsers.bob)).rejects.toMatchObject({ code: 404, type: "ORDER_NOT_FOUND" });
		await expect(getOrder(randomUUID(), testUsers.alice)).rejects.toMatchObject({ code: 404, type: "ORDER_NOT_FOUND" });
		// Not a UUID: no such order either, answered without asking PostgreSQL (which would refuse it as a uuid).
		for (const id of ["nope", `${order.id}x`, "' OR 1=1 --"])
			await expect(getOrder(id, testUsers.alice)).rejects.toMatchObject({ code: 404, type: "ORDER_NOT_FOUND" });
		await expect(broker.call(OrderActions.get.name, { id: order.id })).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
		expect(await getOrder(order.id, testUsers.alice)).toMatchObject({ id: order.id, userId: testUsers.alice.id });
		expect(await getOrder(order.id, testUsers.admin)).toMatchObject({ id: order.id, userId: testUsers.alice.id });
		await settled(order.id, "paid");
	});

	it("lists only the caller's own orders; an admin sees everyone's", async () => {
		const item = await product("Listed item", 100, 20);
		const bobs = await createOrder(testUsers.bob, { items: [{ productId: item.id, quantity: 1 }] });
		const alices = await createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 1 }] });

		const alicePage = await broker.call<OrderPage, object>(OrderActions.list.name, { pageSize: 100 }, as(testUsers.alice));
		expect(alicePage.items.length).toBeGreaterThan(0);
		expect(alicePage.items.every((o) => o.userId === testUsers.alice.id)).toBe(true);
		expect(alicePage.items.map((o) => o.id)).toContain(alices.id);
		expect(alicePage.total).toBe(await count(`SELECT count(*) FROM orders.orders WHERE user_id = :id`, { id: testUsers.alice.id }));

		const bobPage = await broker.call<OrderPage, object>(OrderActions.list.name, { pageSize: 100 }, as(testUsers.bob));
		expect(bobPage.items.map((o) => o.id)).toContain(bobs.id);
		expect(bobPage.items.map((o) => o.id)).not.toContain(alices.id);
		expect(bobPage.items.every((o) => o.userId === testUsers.bob.id)).toBe(true);

		const adminPage = await broker.call<OrderPage, object>(OrderActions.list.name, { pageSize: 100 }, as(testUsers.admin));
		expect(adminPage.items.map((o) => o.id)).toEqual(expect.arrayContaining([alices.id, bobs.id]));
		expect(adminPage.total).toBe(await orderRows());

		await expect(broker.call(OrderActions.list.name, {})).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
		await settled(bobs.id, "paid");
		await settled(alices.id, "paid");
	});

	it("emits order.status for each transition, once", async () => {
		const item = await product("Evented item", 100, 5);
		const paid = await createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 1 }] });
		const failed = await createOrder(testUsers.bob, {
			items: [{ productId: item.id, quantity: 1 }],
			payment: { provider: "simulated", token: "tok_chargeDeclined" },
		});
		const eventsOf = (orderId: string) => statusEvents.filter((e) => e.orderId === orderId);
		await waitFor(() => eventsOf(paid.id).length >= 2 && eventsOf(failed.id).length >= 2, "order.status events of both orders", 10_000, 25);
		expect(eventsOf(paid.id)).toEqual([
			{ orderId: paid.id, userId: testUsers.alice.id, status: "pending_payment", previousStatus: null, at: expect.any(String) },
			{ orderId: paid.id, userId: testUsers.alice.id, status: "paid", previousStatus: "pending_payment", at: expect.any(String) },
		]);
		expect(eventsOf(failed.id)).toEqual([
			{ orderId: failed.id, userId: testUsers.bob.id, status: "pending_payment", previousStatus: null, at: expect.any(String) },
			{ orderId: failed.id, userId: testUsers.bob.id, status: "payment_failed", previousStatus: "pending_payment", at: expect.any(String) },
		]);
	});

	it("publishes every outbox row", async () => {
		const item = await product("Outbox item", 100, 5);
		const order = await createOrder(testUsers.alice, { items: [{ productId: item.id, quantity: 1 }] });
		await settled(order.id, "paid");
		expect(await count(`SELECT count(*) FROM orders.outbox WHERE payload->>'orderId' = :id`, { id: order.id })).toBe(1);
		await waitFor(
			async () => (await count(`SELECT count(*) FROM orders.outbox WHERE published_at IS NULL`)) === 0,
			"every orders.outbox row to be published",
			10_000,
			50,
		);
		// One Channels.orderCreated per order, each published.
		expect(await count(`SELECT count(*) FROM orders.outbox WHERE channel = 'orders.created' AND published_at IS NOT NULL`)).toBe(await orderRows());
		await waitFor(
			async () => (await count(`SELECT count(*) FROM payments.outbox WHERE published_at IS NULL`)) === 0,
			"every payments.outbox row to be published",
			10_000,
			50,
		);
	});
});
