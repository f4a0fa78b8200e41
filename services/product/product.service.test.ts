import { randomUUID } from "node:crypto";
import type { ServiceBroker } from "moleculer";
import DbService from "moleculer-db";
import { QueryTypes, Sequelize } from "sequelize";
import { Events, ProductActions, type Product, type ProductPage } from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
import ProductService from "./product.service.js";

/** The one service that may reserve and release stock (the actions' `callers`). */
const asOrder = { caller: "order" };

describe("product service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	const asAdmin = { meta: { user: testUsers.admin } };
	const unavailable: unknown[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [
			ProductService,
			{ name: "listener", events: { [Events.productUnavailable]: { handler: (ctx: { params: unknown }) => void unavailable.push(ctx.params) } } },
		]);
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const create = (params: Record<string, unknown>) => broker.call<Product, Record<string, unknown>>(ProductActions.create.name, params, asAdmin);

	it("creates a product with its stock, and only for admins", async () => {
		const product = await create({ name: "Kettle", price: 4500, stock: 7, category: "equipment" });
		expect(product).toMatchObject({ name: "Kettle", price: 4500, currency: "EUR", available: 7, active: true });
		await expect(broker.call(ProductActions.create.name, { name: "X", price: 1 }, { meta: { user: testUsers.alice } })).rejects.toMatchObject({
			code: 403,
			type: "FORBIDDEN",
		});
		await expect(broker.call(ProductActions.create.name, { name: "X", price: 1 })).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
	});

	it("rejects bad input without writing anything", async () => {
		const before = await broker.call<ProductPage, object>(ProductActions.list.name, { pageSize: 100 });
		for (const bad of [
			{ name: "", price: 1 },
			{ name: "A", price: 1.5 },
			{ name: "A", price: -1 },
			{ name: "A", price: "10" },
			{ name: "A", price: 1, currency: "euro" },
		]) {
			await expect(create(bad)).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		}
		const after = await broker.call<ProductPage, object>(ProductActions.list.name, { pageSize: 100 });
		expect(after.total).toBe(before.total);
	});

	it("answers an unknown id with PRODUCT_NOT_FOUND, also one longer than any id", async () => {
		await expect(broker.call(ProductActions.get.name, { id: randomUUID() })).rejects.toMatchObject({ code: 404, type: "PRODUCT_NOT_FOUND" });
		await expect(broker.call(ProductActions.get.name, { id: "x".repeat(65) })).rejects.toMatchObject({ code: 404, type: "PRODUCT_NOT_FOUND" });
	});

	it("lists with filters, sorting and pages", async () => {
		await create({ name: "Mug blue", price: 1000, stock: 1, category: "cups" });
		await create({ name: "Mug red", price: 1200, stock: 1, category: "cups" });
		await create({ name: "Mug green", price: 1400, stock: 1, category: "cups" });
		const cups = await broker.call<ProductPage, object>(ProductActions.list.name, { category: "cups", sort: "-price", pageSize: 2 });
		expect(cups.total).toBe(3);
		expect(cups.totalPages).toBe(2);
		expect(cups.items.map((p) => p.name)).toEqual(["Mug green", "Mug red"]);
		const second = await broker.call<ProductPage, object>(ProductActions.list.name, { category: "cups", sort: "-price", pageSize: 2, page: 2 });
		expect(second.items.map((p) => p.name)).toEqual(["Mug blue"]);
		const cheap = await broker.call<ProductPage, object>(ProductActions.list.name, { q: "mug", maxPrice: 1200, sort: "price" });
		expect(cheap.items.map((p) => p.name)).toEqual(["Mug blue", "Mug red"]);
	});

	it("matches a category whatever its case, literally, on MongoDB (jongodb) and on the memory adapter", async () => {
		const check = async (on: ServiceBroker, label: string) => {
			const admin = (params: Record<string, unknown>) => on.call<Product, Record<string, unknown>>(ProductActions.create.name, params, asAdmin);
			const beans = await admin({ name: `${label} beans`, price: 900, category: "coffee" });
			const kettle = await admin({ name: `${label} kettle`, price: 2500, category: "Brew.Gear" });
			await admin({ name: `${label} cup`, price: 300, category: "coffee cups" });
			await admin({ name: `${label} grinder`, price: 4000, category: "BrewXGear" });
			const names = async (category: string) =>
				(await on.call<ProductPage, object>(ProductActions.list.name, { category, q: label, pageSize: 100 })).items.map((p) => p.id);
			for (const category of ["coffee", "Coffee", "COFFEE", " coffee "])
				expect({ label, category, found: await names(category) }).toEqual({ label, category, found: [beans.id] });
			// The dot is a dot, not any character; the match is whole, not a prefix.
			expect(await names("brew.gear")).toEqual([kettle.id]);
			expect(await names("coff")).toEqual([]);
			expect(await names("coffee.*")).toEqual([]);
		};
		await check(broker, "Mongo");

		// Without MONGO_URL (and a memory cacher, so the two brokers share no cache).
		const memory = await startBroker(env, [ProductService], { mongoUrl: undefined, redisUrl: undefined });
		try {
			expect(memory.getLocalService("product")!.adapter).toBeInstanceOf(DbService.MemoryAdapter);
			await check(memory, "Memory");
		} finally {
			await memory.stop();
		}
	});

	it("refuses a minPrice above maxPrice with 422 naming both fields", async () => {
		await expect(broker.call(ProductActions.list.name, { minPrice: 5000, maxPrice: 2000 })).rejects.toMatchObject({
			name: "ValidationError",
			code: 422,
			type: "VALIDATION_ERROR",
			data: [
				expect.objectContaining({ field: "minPrice", actual: 5000, expected: 2000 }),
				expect.objectContaining({ field: "maxPrice", actual: 2000, expected: 5000 }),
			],
		});
		// Equal bounds are a price, not a contradiction.
		const exact = await create({ name: "Exactly 2000", price: 2000, stock: 1 });
		const page = await broker.call<ProductPage, object>(ProductActions.list.name, { minPrice: 2000, maxPrice: 2000, pageSize: 100 });
		expect(page.items.map((p) => p.id)).toContain(exact.id);
		expect(page.items.every((p) => p.price === 2000)).toBe(true);
	});

	it("says which sort was sent and which are allowed", async () => {
		await expect(broker.call(ProductActions.list.name, { sort: "foo" })).rejects.toMatchObject({
			code: 422,
			data: [
				expect.objectContaining({
					field: "sort",
					message: "The 'sort' field must be one of name, -name, price, -price, createdAt, -createdAt; got 'foo'.",
				}),
			],
		});
	});

	it("serves reads from the cache and cleans it when stock changes", async () => {
		const product = await create({ name: "Cached grinder", price: 8900, stock: 3 });
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: product.id })).available).toBe(3);
		// Written behind the service's back: a cached read does not see it...
		await db.query(`UPDATE inventory.stock_levels SET available = 2 WHERE product_id = :id`, { replacements: { id: product.id } });
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: product.id })).available).toBe(3);
		const listed = async () => (await broker.call<ProductPage, object>(ProductActions.list.name, { q: "Cached grinder" })).items[0].available;
		expect(await listed()).toBe(2);
		await db.query(`UPDATE inventory.stock_levels SET available = 5 WHERE product_id = :id`, { replacements: { id: product.id } });
		expect(await listed()).toBe(2);
		// ...until the service itself changes the stock, which cleans the cache.
		await broker.call(ProductActions.reserve.name, { orderId: randomUUID(), lines: [{ productId: product.id, quantity: 1 }] }, asOrder);
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: product.id })).available).toBe(4);
		expect(await listed()).toBe(4);
	});

	it("reserves all lines or none, and releasing gives the stock back once", async () => {
		const a = await create({ name: "Line A", price: 100, stock: 5 });
		const b = await create({ name: "Line B", price: 100, stock: 1 });
		const orderId = randomUUID();
		await expect(
			broker.call(
				ProductActions.reserve.name,
				{
					orderId,
					lines: [
						{ productId: a.id, quantity: 2 },
						{ productId: b.id, quantity: 2 },
					],
				},
				asOrder,
			),
		).rejects.toMatchObject({ code: 409, type: "OUT_OF_STOCK", data: { shortages: [{ productId: b.id, requested: 2, available: 1 }] } });
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: a.id })).available).toBe(5);

		await broker.call(
			ProductActions.reserve.name,
			{
				orderId,
				lines: [
					{ productId: a.id, quantity: 2 },
					{ productId: b.id, quantity: 1 },
				],
			},
			asOrder,
		);
		// The same order reserving again changes nothing.
		await broker.call(
			ProductActions.reserve.name,
			{
				orderId,
				lines: [
					{ productId: a.id, quantity: 2 },
					{ productId: b.id, quantity: 1 },
				],
			},
			asOrder,
		);
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: a.id })).available).toBe(3);
		expect(unavailable).toContainEqual({ productId: b.id, name: "Line B", available: 0 });

		await broker.call(ProductActions.release.name, { orderId }, asOrder);
		await broker.call(ProductActions.release.name, { orderId }, asOrder);
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: a.id })).available).toBe(5);
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: b.id })).available).toBe(1);
	});

	it("lets only the order service reserve and release stock: any other caller is refused and changes nothing", async () => {
		const product = await create({ name: "Guarded", price: 100, stock: 3 });
		const orderId = randomUUID();
		await broker.call(ProductActions.reserve.name, { orderId, lines: [{ productId: product.id, quantity: 1 }] }, asOrder);
		for (const opts of [{}, { caller: "payment" }, { caller: "api" }]) {
			await expect(
				broker.call(ProductActions.reserve.name, { orderId: randomUUID(), lines: [{ productId: product.id, quantity: 2 }] }, opts),
			).rejects.toMatchObject({
				code: 403,
				type: "FORBIDDEN",
			});
			await expect(broker.call(ProductActions.release.name, { orderId }, opts)).rejects.toMatchObject({ code: 403, type: "FORBIDDEN" });
		}
		expect((await broker.call<Product, object>(ProductActions.get.name, { id: product.id })).available).toBe(2);
	});

	it("never sells a unit twice: 40 concurrent reservations for 6 units", async () => {
		const product = await create({ name: "Scarce", price: 100, stock: 6 });
		const results = await Promise.allSettled(
			Array.from({ length: 40 }, () =>
				broker.call(ProductActions.reserve.name, { orderId: randomUUID(), lines: [{ productId: product.id, quantity: 1 }] }, asOrder),
			),
		);
		expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(6);
		for (const r of results.filter((r): r is PromiseRejectedResult => r.status === "rejected")) expect(r.reason).toMatchObject({ type: "OUT_OF_STOCK" });
		const [{ available, reserved }] = await db.query<{ available: number; reserved: string }>(
			`SELECT s.available, (SELECT sum(quantity) FROM inventory.reservations r WHERE r.product_id = s.product_id) AS reserved
			   FROM inventory.stock_levels s WHERE s.product_id = :id`,
			{ replacements: { id: product.id }, type: QueryTypes.SELECT },
		);
		expect(available).toBe(0);
		expect(Number(reserved)).toBe(6);
	});
});
