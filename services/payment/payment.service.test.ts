import { randomUUID } from "node:crypto";
import type { Service, ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import {
	Channels,
	Events,
	PaymentActions,
	type AuthUser,
	type OrderCreatedMessage,
	type PaymentPage,
	type PaymentSettledMessage,
	type PaymentStatusEvent,
} from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import PaymentService from "./payment.service.js";
import { createPaymentProviders } from "./providers/index.js";
import { SIMULATED_TOKENS } from "./providers/simulated.provider.js";

/** What @moleculer/channels adds to a service: runs its channel handler in process and waits for it. */
type ChannelService = Service & { emitLocalChannelHandler(channel: string, payload: unknown): Promise<void> };

interface PaymentRow {
	id: string;
	status: string;
	failure_code: string | null;
	provider_reference: string | null;
	amount: string;
}

describe("payment service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;
	let payment: ChannelService;
	const settledMessages: PaymentSettledMessage[] = [];
	const statusEvents: PaymentStatusEvent[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [
			PaymentService,
			{
				name: "settlement-listener",
				// Stands in for the order service: the durable consumer of settlements.
				channels: { [Channels.paymentSettled]: { group: "test", handler: (message: PaymentSettledMessage) => void settledMessages.push(message) } },
				events: { [Events.paymentStatus]: { handler: (ctx: { params: PaymentStatusEvent }) => void statusEvents.push(ctx.params) } },
			} as never,
		]);
		payment = broker.getLocalService("payment") as ChannelService;
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const orderCreated = (token: string, user: AuthUser = testUsers.alice, amount = 2500): OrderCreatedMessage => ({
		orderId: randomUUID(),
		userId: user.id,
		amount,
		currency: "EUR",
		payment: { provider: "simulated", token },
		createdAt: new Date().toISOString(),
	});
	/** One delivery, handled to the end (what the queue does once per delivery). */
	const deliver = (message: OrderCreatedMessage) => payment.emitLocalChannelHandler(Channels.orderCreated, message);
	const paymentsOf = (orderId: string) =>
		db.query<PaymentRow>(`SELECT * FROM payments.payments WHERE order_id = :orderId`, { replacements: { orderId }, type: QueryTypes.SELECT });
	const outboxOf = (orderId: string) =>
		db.query<{ channel: string; payload: PaymentSettledMessage; published_at: Date | null }>(
			`SELECT channel, payload, published_at FROM payments.outbox WHERE payload->>'orderId' = :orderId`,
			{ replacements: { orderId }, type: QueryTypes.SELECT },
		);
	const settledFor = (orderId: string) => settledMessages.filter((m) => m.orderId === orderId);
	const listPage = (user: AuthUser | undefined, params: object = {}) =>
		broker.call<PaymentPage, object>(PaymentActions.list.name, params, { meta: { user } });
	const list = async (user: AuthUser | undefined, params: object = {}) => (await listPage(user, params)).items;

	it("charges once when the same orders.created message is delivered twice through the channel", async () => {
		const message = orderCreated("tok_visa");
		await broker.sendToChannel(Channels.orderCreated, message);
		await broker.sendToChannel(Channels.orderCreated, message);
		await waitFor(async () => (await outboxOf(message.orderId)).some((row) => row.published_at), "the settlement to be published", 10_000, 25);
		await waitFor(() => settledFor(message.orderId).length > 0, "the settlement to reach its consumer", 10_000, 25);

		const rows = await paymentsOf(message.orderId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ status: "succeeded", failure_code: null, amount: "2500" });
		const outbox = await outboxOf(message.orderId);
		expect(outbox).toHaveLength(1);
		expect(outbox[0]).toMatchObject({ channel: Channels.paymentSettled, payload: { paymentId: rows[0].id, status: "succeeded", failureCode: null } });
		expect(settledFor(message.orderId)).toEqual([
			{ paymentId: rows[0].id, orderId: message.orderId, userId: testUsers.alice.id, status: "succeeded", failureCode: null },
		]);
	});

	it("changes nothing when a settled order's message is redelivered", async () => {
		const message = orderCreated("tok_visa");
		await deliver(message);
		const [first] = await paymentsOf(message.orderId);
		expect(first).toMatchObject({ status: "succeeded", provider_reference: expect.stringMatching(/^sim_ch_/) });
		await deliver(message);
		await deliver({ ...message, amount: 1 });
		expect(await paymentsOf(message.orderId)).toEqual([first]);
		expect(await outboxOf(message.orderId)).toHaveLength(1);
		expect(statusEvents.filter((e) => e.orderId === message.orderId)).toEqual([
			{ paymentId: first.id, orderId: message.orderId, userId: testUsers.alice.id, status: "succeeded", failureCode: null, at: expect.any(String) },
		]);
	});

	it("charges once when two deliveries of one message race", async () => {
		const message = orderCreated("tok_visa");
		await Promise.all([deliver(message), deliver(message), deliver(message)]);
		expect(await paymentsOf(message.orderId)).toHaveLength(1);
		expect(await outboxOf(message.orderId)).toHaveLength(1);
	});

	it("tok_insufficientFunds: the payment fails with insufficient_funds and the failure is settled", async () => {
		const message = orderCreated("tok_insufficientFunds");
		await deliver(message);
		const rows = await paymentsOf(message.orderId);
		expect(rows).toEqual([expect.objectContaining({ status: "failed", failure_code: "insufficient_funds" })]);
		expect(await list(testUsers.alice, { orderId: message.orderId })).toEqual([
			expect.objectContaining({ orderId: message.orderId, status: "failed", failureCode: "insufficient_funds", amount: 2500, currency: "EUR" }),
		]);
		const outbox = await outboxOf(message.orderId);
		expect(outbox).toEqual([expect.objectContaining({ payload: expect.objectContaining({ status: "failed", failureCode: "insufficient_funds" }) })]);
		await waitFor(() => settledFor(message.orderId).length > 0, "the failed settlement to reach its consumer", 10_000, 25);
		expect(settledFor(message.orderId)).toEqual([expect.objectContaining({ status: "failed", failureCode: "insufficient_funds" })]);
	});

	it("tok_chargeDeclined: the payment fails with card_declined", async () => {
		const message = orderCreated("tok_chargeDeclined");
		await deliver(message);
		expect(await paymentsOf(message.orderId)).toEqual([expect.objectContaining({ status: "failed", failure_code: "card_declined" })]);
	});

	it("tok_timeout: the payment stays pending and nothing is settled", async () => {
		const message = orderCreated("tok_timeout");
		await deliver(message);
		expect(await paymentsOf(message.orderId)).toEqual([expect.objectContaining({ status: "pending", failure_code: null, provider_reference: null })]);
		expect(await outboxOf(message.orderId)).toEqual([]);
		// A redelivery does not turn an unknown outcome into a second charge or a settlement.
		await deliver(message);
		expect(await paymentsOf(message.orderId)).toEqual([expect.objectContaining({ status: "pending" })]);
		expect(await outboxOf(message.orderId)).toEqual([]);
		expect(settledFor(message.orderId)).toEqual([]);
		expect(await list(testUsers.alice, { orderId: message.orderId })).toEqual([expect.objectContaining({ status: "pending", failureCode: null })]);
	});

	it("lists only the caller's own payments; an admin sees all", async () => {
		const alices = orderCreated("tok_visa", testUsers.alice);
		const bobs = orderCreated("tok_visa", testUsers.bob);
		await deliver(alices);
		await deliver(bobs);

		const forAlice = await list(testUsers.alice);
		expect(forAlice.map((p) => p.orderId)).toContain(alices.orderId);
		expect(forAlice.map((p) => p.orderId)).not.toContain(bobs.orderId);
		expect(forAlice.every((p) => p.userId === testUsers.alice.id)).toBe(true);
		// Asking for bob's order by id does not help alice.
		expect(await list(testUsers.alice, { orderId: bobs.orderId })).toEqual([]);

		const forBob = await list(testUsers.bob);
		expect(forBob.map((p) => p.orderId)).toEqual([bobs.orderId]);

		const forAdmin = await list(testUsers.admin);
		expect(forAdmin.map((p) => p.orderId)).toEqual(expect.arrayContaining([alices.orderId, bobs.orderId]));
		expect(await list(testUsers.admin, { orderId: bobs.orderId })).toEqual([expect.objectContaining({ orderId: bobs.orderId, userId: testUsers.bob.id })]);

		await expect(list(undefined)).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
		await expect(list(testUsers.alice, { orderId: "not-a-uuid" })).rejects.toMatchObject({ name: "ValidationError", code: 422 });
	});

	it("lists payments a page at a time, newest first, with the total", async () => {
		for (let i = 0; i < 3; i++) await deliver(orderCreated("tok_visa", testUsers.bob, 100 + i));
		const [{ n }] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM payments.payments WHERE user_id = :id`, {
			replacements: { id: testUsers.bob.id },
			type: QueryTypes.SELECT,
		});
		const total = Number(n);
		expect(total).toBeGreaterThanOrEqual(3);

		const first = await listPage(testUsers.bob, { pageSize: 2 });
		expect(first).toMatchObject({ page: 1, pageSize: 2, total, totalPages: Math.ceil(total / 2) });
		expect(first.items).toHaveLength(2);
		const pages = [first];
		for (let page = 2; page <= first.totalPages; page++) pages.push(await listPage(testUsers.bob, { page, pageSize: "2" }));
		const all = pages.flatMap((p) => p.items);
		expect(new Set(all.map((p) => p.id)).size).toBe(total);
		const times = all.map((p) => p.createdAt);
		expect(times).toEqual([...times].sort().reverse());
		expect(await listPage(testUsers.bob, { page: first.totalPages + 1, pageSize: 2 })).toMatchObject({ items: [], total });

		// Defaults like order.list; pageSize is bounded.
		expect(await listPage(testUsers.bob)).toMatchObject({ page: 1, pageSize: 20, total });
		await expect(listPage(testUsers.bob, { pageSize: 101 })).rejects.toMatchObject({ name: "ValidationError", code: 422 });
	});

	it("the simulated provider accepts exactly its test tokens", () => {
		const simulated = createPaymentProviders().get("simulated")!;
		for (const token of Object.keys(SIMULATED_TOKENS)) expect({ token, accepted: simulated.accepts(token) }).toEqual({ token, accepted: true });
		for (const token of ["tok_bogus", "", "TOK_VISA", "toString", "__proto__"])
			expect({ token, accepted: simulated.accepts(token) }).toEqual({ token, accepted: false });
	});

	it("publishes every settlement in the outbox", async () => {
		await waitFor(
			async () =>
				Number(
					(await db.query<{ n: string }>(`SELECT count(*) AS n FROM payments.outbox WHERE published_at IS NULL`, { type: QueryTypes.SELECT }))[0].n,
				) === 0,
			"every payments.outbox row to be published",
			10_000,
			50,
		);
	});
});
