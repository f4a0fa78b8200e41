import { createHash, randomUUID } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { UniqueConstraintError } from "sequelize";
import {
	Channels,
	Events,
	MAX_UNITS_PER_LINE,
	OrderActions,
	pageOf,
	ProductActions,
	type CreateOrderParams,
	type Order,
	type OrderCreatedMessage,
	type OrderLine,
	type OrderPage,
	type OrderStatus,
	type OrderStatusEvent,
	type PageParams,
	type ParamsOf,
	type PaymentInstruction,
	type PaymentSettledMessage,
	type RequestMeta,
	type StockLine,
} from "../../shared/contracts.js";
import { announceCommitted } from "../../shared/announce-committed.js";
import { callAction } from "../../shared/call-action.js";
import { withBackoff } from "../../shared/channel-retry.js";
import { ConflictError, NotFoundError, UnprocessableError } from "../../shared/errors.js";
import { OutboxMixin, type OutboxThis } from "../../shared/mixins/outbox.mixin.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import { fieldsError } from "../../shared/validation.js";
import { createPaymentProviders } from "../payment/providers/index.js";
import type { PaymentProvider } from "../payment/providers/payment-provider.js";
import { migrations } from "./migrations/index.js";
import { OrderRepository, type StoredOrder } from "./order.repository.js";

type OrderContext<P = unknown> = Context<P, RequestMeta>;

type OrderThis = Service &
	PostgresThis &
	OutboxThis & {
		orders: OrderRepository;
		/** Asked whether they accept an order's token; never charged here (see createPaymentProviders). */
		paymentProviders: Map<string, PaymentProvider>;
		priceLines(ctx: OrderContext, lines: { productId: string; quantity: number }[]): Promise<{ currency: string; items: OrderLine[] }>;
		replayIdempotent(ctx: OrderContext, existing: StoredOrder, requestHash: string): Order;
		checkPaymentToken(payment: PaymentInstruction): void;
		reserveStock(ctx: OrderContext, orderId: string, lines: StockLine[]): Promise<void>;
		releaseStock(orderId: string): Promise<void>;
		announceStatus(order: { id: string; userId: string }, status: OrderStatus, previousStatus: OrderStatus | null): Promise<void>;
	};

/** What PostgreSQL's uuid type reads; anything else is an id no order has. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isClientError = (err: unknown) => {
	const status = (err as { code?: unknown }).code;
	return typeof status === "number" && status >= 400 && status < 500;
};

const publicOrder = ({ requestHash: _hash, ...order }: StoredOrder): Order => order;

/**
 * The same product twice in one request is one line, where it first appeared:
 * the order keeps the lines in the order they were sent (a Map iterates in
 * insertion order). Merged, a line may not exceed MAX_UNITS_PER_LINE.
 */
function mergeLines(items: CreateOrderParams["items"]): StockLine[] {
	const quantities = new Map<string, number>();
	for (const { productId, quantity } of items) quantities.set(productId, (quantities.get(productId) ?? 0) + quantity);
	const lines = [...quantities].map(([productId, quantity]) => ({ productId, quantity }));
	const tooMany = lines.filter((line) => line.quantity > MAX_UNITS_PER_LINE);
	if (tooMany.length) {
		throw fieldsError(
			tooMany.map((line) => ({
				type: "numberMax",
				field: "items",
				message: `At most ${MAX_UNITS_PER_LINE} units of product ${line.productId} per order; got ${line.quantity}.`,
				actual: line.quantity,
				expected: MAX_UNITS_PER_LINE,
			})),
		);
	}
	return lines;
}

/**
 * What an Idempotency-Key is bound to. Over the lines by product id, as they
 * were stored before lines kept their order, so a replay of an older order's
 * request, or the same lines in another order, still finds its order.
 */
function hashRequest(linesByProduct: StockLine[], payment: PaymentInstruction): string {
	return createHash("sha256")
		.update(JSON.stringify({ lines: linesByProduct, payment }))
		.digest("hex");
}

const OrderService: ServiceSchema<ServiceSettingSchema, OrderThis> = {
	name: "order",

	// Migrations in the order they were written; those already applied are skipped by name.
	mixins: [PostgresMixin({ schema: "orders", migrations }), OutboxMixin({ schema: "orders", publishes: [Channels.orderCreated] })],

	actions: {
		create: {
			permissions: ["authenticated"],
			params: OrderActions.create.params,
			async handler(this: OrderThis, ctx: OrderContext<CreateOrderParams>): Promise<Order> {
				const user = ctx.meta.user!;
				const idempotencyKey = ctx.meta.idempotencyKey ?? null;
				const lines = mergeLines(ctx.params.items);
				this.checkPaymentToken(ctx.params.payment);
				// By product id: the stock is reserved in that order (no two orders
				// lock the same rows in opposite orders).
				const byProduct = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
				const requestHash = hashRequest(byProduct, ctx.params.payment);

				if (idempotencyKey) {
					const existing = await this.orders.findByIdempotencyKey(user.id, idempotencyKey);
					if (existing) return this.replayIdempotent(ctx, existing, requestHash);
				}

				const { currency, items } = await this.priceLines(ctx, lines);
				const orderId = randomUUID();
				// Reserve first (the product service's own transaction), then record;
				// if recording fails, give the stock back (a saga, never a
				// transaction held open across services).
				await this.reserveStock(ctx, orderId, byProduct);
				const totalAmount = items.reduce((sum, item) => sum + item.lineTotal, 0);
				const message: OrderCreatedMessage = {
					orderId,
					userId: user.id,
					amount: totalAmount,
					currency,
					payment: ctx.params.payment,
					createdAt: new Date().toISOString(),
				};
				try {
					await this.withTransaction(async (transaction) => {
						await this.orders.insert(
							{
								id: orderId,
								userId: user.id,
								currency,
								totalAmount,
								paymentProvider: ctx.params.payment.provider,
								idempotencyKey,
								requestHash,
								items,
							},
							transaction,
						);
						await this.addToOutbox(transaction, Channels.orderCreated, message);
					});
				} catch (err) {
					await this.releaseStock(orderId);
					if (err instanceof UniqueConstraintError && idempotencyKey) {
						// A concurrent request with the same key won the race.
						const winner = await this.orders.findByIdempotencyKey(user.id, idempotencyKey);
						if (winner) return this.replayIdempotent(ctx, winner, requestHash);
					}
					throw err;
				}
				this.relayOutboxSoon();
				await this.announceStatus({ id: orderId, userId: user.id }, "pending_payment", null);

				ctx.meta.$statusCode = 201;
				const stored = await this.orders.findById(orderId);
				return publicOrder(stored!);
			},
		},

		list: {
			permissions: ["authenticated"],
			params: OrderActions.list.params,
			async handler(this: OrderThis, ctx: OrderContext<PageParams>): Promise<OrderPage> {
				const { page, pageSize } = ctx.params;
				// Shoppers see their own orders; admins see everyone's.
				const owner = ctx.meta.user!.role === "admin" ? null : ctx.meta.user!.id;
				const { items, total } = await this.orders.list(owner, pageSize, (page - 1) * pageSize);
				return pageOf(items, total, ctx.params);
			},
		},

		get: {
			permissions: ["authenticated"],
			params: OrderActions.get.params,
			async handler(this: OrderThis, ctx: OrderContext<ParamsOf<typeof OrderActions.get>>): Promise<Order> {
				const order = UUID.test(ctx.params.id) ? await this.orders.findById(ctx.params.id) : null;
				const user = ctx.meta.user!;
				// Someone else's order answers exactly like a missing one.
				if (!order || (order.userId !== user.id && user.role !== "admin")) {
					throw new NotFoundError("ORDER_NOT_FOUND", `Order ${ctx.params.id} does not exist`);
				}
				return publicOrder(order);
			},
		},

		placed: {
			visibility: "public",
			callers: ["product"],
			params: OrderActions.placed.params,
			async handler(this: OrderThis, ctx: OrderContext<ParamsOf<typeof OrderActions.placed>>): Promise<string[]> {
				return this.orders.existingIds(ctx.params.orderIds);
			},
		},
	},

	channels: {
		// Durable, at-least-once: applying a settlement twice changes nothing,
		// because the order only moves out of `pending_payment` once.
		[Channels.paymentSettled]: {
			group: "order",
			// A redelivery waits first (withBackoff), so a dependency down for a
			// moment (product.release) does not use up the retries at once.
			handler: withBackoff(async function (this: OrderThis, message: PaymentSettledMessage) {
				const to: OrderStatus = message.status === "succeeded" ? "paid" : "payment_failed";
				const order = await this.orders.findById(message.orderId);
				if (!order) {
					this.logger.error(`Payment ${message.paymentId} settled for unknown order ${message.orderId}`);
					return;
				}
				if (order.status !== "pending_payment") return;
				// Stock goes back before the order moves, so a crash in between
				// is retried by redelivery (release is idempotent).
				if (to === "payment_failed") await callAction(this, ProductActions.release, { orderId: order.id });
				const moved = await this.withTransaction((transaction) =>
					this.orders.transition(
						order.id,
						"pending_payment",
						to,
						message.failureCode ? `payment failed: ${message.failureCode}` : "payment succeeded",
						transaction,
					),
				);
				if (moved) await this.announceStatus(order, to, "pending_payment");
			}),
		},
	},

	methods: {
		async priceLines(this: OrderThis, ctx: OrderContext, lines: { productId: string; quantity: number }[]) {
			const products = await callAction(ctx, ProductActions.getMany, { ids: lines.map((l) => l.productId) });
			const byId = new Map(products.map((p) => [p.id, p]));
			const missing = lines.filter((l) => !byId.has(l.productId)).map((l) => l.productId);
			if (missing.length) throw new NotFoundError("PRODUCT_NOT_FOUND", `Unknown product: ${missing.join(", ")}`, { productIds: missing });
			const inactive = lines.filter((l) => !byId.get(l.productId)!.active).map((l) => l.productId);
			if (inactive.length) throw new UnprocessableError("PRODUCT_INACTIVE", "Some products are no longer sold", { productIds: inactive });
			const currencies = [...new Set(products.map((p) => p.currency))];
			if (currencies.length > 1) throw new UnprocessableError("CURRENCY_MISMATCH", "All products of an order must share one currency", { currencies });
			// Prices come from the catalog, never from the client.
			const items: OrderLine[] = lines.map(({ productId, quantity }) => {
				const product = byId.get(productId)!;
				return { productId, name: product.name, unitPrice: product.price, quantity, lineTotal: product.price * quantity };
			});
			return { currency: currencies[0], items };
		},

		/** Refused before anything is reserved, instead of failing at payment. */
		checkPaymentToken(this: OrderThis, { provider, token }: PaymentInstruction) {
			if (!this.paymentProviders.get(provider)?.accepts(token)) {
				throw new UnprocessableError("PAYMENT_TOKEN_INVALID", `The 'payment.token' field is not a token the ${provider} provider accepts`, {
					field: "payment.token",
					provider,
				});
			}
		},

		async reserveStock(this: OrderThis, ctx: OrderContext, orderId: string, lines: StockLine[]) {
			try {
				await callAction(ctx, ProductActions.reserve, { orderId, lines });
			} catch (err) {
				// A 4xx (out of stock, bad line) reserved nothing; anything else
				// (a timeout, a lost reply) may have reserved: give it back.
				if (!isClientError(err)) await this.releaseStock(orderId);
				throw err;
			}
		},

		/** Compensation: never hides the error that made it necessary. */
		async releaseStock(this: OrderThis, orderId: string) {
			await callAction(this, ProductActions.release, { orderId }).catch((err: Error) => {
				this.logger.error(`Stock of order ${orderId} could not be released now; the product service's reservation sweep releases it:`, err.message);
			});
		},

		replayIdempotent(this: OrderThis, ctx: OrderContext, existing: StoredOrder, requestHash: string): Order {
			if (existing.requestHash !== requestHash) {
				throw new ConflictError("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used for a different request", { orderId: existing.id });
			}
			ctx.meta.$statusCode = 200;
			return publicOrder(existing);
		},

		// After the commit: a failed announcement never fails the order.
		async announceStatus(this: OrderThis, order: { id: string; userId: string }, status: OrderStatus, previousStatus: OrderStatus | null) {
			await announceCommitted(this.logger, `Order ${order.id} is ${status}`, () =>
				this.broker.emit<OrderStatusEvent>(Events.orderStatus, {
					orderId: order.id,
					userId: order.userId,
					status,
					previousStatus,
					at: new Date().toISOString(),
				}),
			);
		},
	},

	created(this: OrderThis) {
		this.orders = new OrderRepository(this.sequelize);
		this.paymentProviders = createPaymentProviders();
	},
};

export default OrderService;
