import type { ServiceBroker, ServiceSchema } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import type { Product } from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
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
		const product = await broker.call<Product, object>("product.create", { name: "Last lamp", price: 4000, stock: 1 }, { meta: { user: testUsers.admin } });
		loseNextReply = true;
		await expect(
			broker.call("order.create", { items: [{ productId: product.id, quantity: 1 }] }, { meta: { user: testUsers.alice } }),
		).rejects.toThrow(/reply was lost/);

		const [{ available }] = await db.query<{ available: number }>(`SELECT available FROM inventory.stock_levels WHERE product_id = :id`, {
			replacements: { id: product.id },
			type: QueryTypes.SELECT,
		});
		expect(available).toBe(1);
		const [{ orders }] = await db.query<{ orders: string }>(`SELECT count(*) AS orders FROM orders.orders`, { type: QueryTypes.SELECT });
		expect(Number(orders)).toBe(0);

		const next = await broker.call<{ status: string }, object>("order.create", { items: [{ productId: product.id, quantity: 1 }] }, { meta: { user: testUsers.bob } });
		expect(next.status).toBe("pending_payment");
	});
});
