import type { ServiceBroker, ServiceSchema } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { OrderActions, ProductActions, type Product } from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import ProductService from "../product/product.service.js";
import OrderService from "./order.service.js";

/**
 * The reserve-then-record saga when the reservation's answer is lost: the
 * product service committed the reservation, but the order service saw an
 * error (a timeout, a dropped reply). The order service must give the stock back.
 */
describe("order saga: a reservation whose answer was lost", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let loseNextReply = false;

	const ProductWithFlakyReplies: ServiceSchema = {
		name: "product",
		mixins: [ProductService as ServiceSchema],
		hooks: {
			after: {
				reserve(_ctx: unknown, result: unknown) {
					if (!loseNextReply) return result;
					loseNextReply = false;
					throw new Error("the reply was lost on its way back");
				},
			},
		},
	};

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [ProductWithFlakyReplies, OrderService]);
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	it("releases the stock it may have reserved, stores no order, and lets the next order have the stock", async () => {
		const product = await broker.call<Product, object>(
			ProductActions.create.name,
			{ name: "Last lamp", price: 4000, stock: 1 },
			{ meta: { user: testUsers.admin } },
		);
		loseNextReply = true;
		await expect(
			broker.call(OrderActions.create.name, { items: [{ productId: product.id, quantity: 1 }] }, { meta: { user: testUsers.alice } }),
		).rejects.toThrow(/reply was lost/);

		const [{ available }] = await db.query<{ available: number }>(`SELECT available FROM inventory.stock_levels WHERE product_id = :id`, {
			replacements: { id: product.id },
			type: QueryTypes.SELECT,
		});
		expect(available).toBe(1);
		const [{ orders }] = await db.query<{ orders: string }>(`SELECT count(*) AS orders FROM orders.orders`, { type: QueryTypes.SELECT });
		expect(Number(orders)).toBe(0);

		const next = await broker.call<{ status: string }, object>(
			OrderActions.create.name,
			{ items: [{ productId: product.id, quantity: 1 }] },
			{ meta: { user: testUsers.bob } },
		);
		expect(next.status).toBe("pending_payment");
	});
});

/**
 * The saga's last resort: the order was not recorded and giving the stock
 * back failed too (the product service was unreachable at that moment). The
 * product service's sweep finds the reservation unconfirmed, asks the order
 * service, and releases it; reservations of recorded orders are only confirmed.
 */
describe("order saga: a reservation nobody gave back", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let failReleases = false;

	const ProductUnreachableForReleases: ServiceSchema = {
		name: "product",
		mixins: [ProductService as ServiceSchema],
		hooks: {
			before: {
				release() {
					if (failReleases) throw new Error("product unreachable");
				},
			},
		},
	};
	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [ProductUnreachableForReleases, OrderService], { reservationGraceSeconds: 1 });
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const available = async (productId: string) =>
		(
			await db.query<{ available: number }>(`SELECT available FROM inventory.stock_levels WHERE product_id = :productId`, {
				replacements: { productId },
				type: QueryTypes.SELECT,
			})
		)[0].available;

	it("releases the stock of an order that was never recorded, and keeps that of a recorded one", async () => {
		const product = await broker.call<Product, object>(
			ProductActions.create.name,
			{ name: "Desk", price: 9000, stock: 5 },
			{ meta: { user: testUsers.admin } },
		);
		const recorded = await broker.call<{ id: string }, object>(
			OrderActions.create.name,
			{ items: [{ productId: product.id, quantity: 1 }] },
			{ meta: { user: testUsers.alice } },
		);

		// Recording fails (a constraint refuses this order's total), and so does giving the stock back.
		await db.query(`ALTER TABLE orders.orders ADD CONSTRAINT refuse_two_units CHECK (total_amount <> 18000) NOT VALID`);
		failReleases = true;
		await expect(
			broker.call(OrderActions.create.name, { items: [{ productId: product.id, quantity: 2 }] }, { meta: { user: testUsers.bob } }),
		).rejects.toThrow();
		expect(await available(product.id)).toBe(2);
		failReleases = false;

		// The sweep runs every second here (RESERVATION_GRACE_SECONDS=1).
		await waitFor(async () => (await available(product.id)) === 4, "the unrecorded order's stock released");
		const reservations = await db.query<{ order_id: string; status: string; confirmed: boolean }>(
			`SELECT order_id, status, confirmed_at IS NOT NULL AS confirmed FROM inventory.reservations ORDER BY created_at`,
			{ type: QueryTypes.SELECT },
		);
		expect(reservations).toEqual([
			{ order_id: recorded.id, status: "reserved", confirmed: true },
			expect.objectContaining({ status: "released", confirmed: false }),
		]);
		// Nothing is left to decide.
		const product$ = broker.getLocalService("product") as unknown as { sweepReservations(): Promise<{ confirmed: number; released: number }> };
		expect(await product$.sweepReservations()).toEqual({ confirmed: 0, released: 0 });
		expect(await available(product.id)).toBe(4);
	});
});
