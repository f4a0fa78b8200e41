import { randomUUID } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { QueryTypes } from "sequelize";
import {
	ChannelConsumers,
	Channels,
	Events,
	type ListPaymentsParams,
	type OrderCreatedMessage,
	type Payment,
	type PaymentPage,
	type PaymentSettledMessage,
	type PaymentStatus,
	type PaymentStatusEvent,
	type RequestMeta,
} from "../../shared/contracts.js";
import { withBackoff } from "../../shared/channel-retry.js";
import { OutboxMixin, type OutboxThis } from "../../shared/mixins/outbox.mixin.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import { migrations } from "./migrations/index.js";
import { createPaymentProviders } from "./providers/index.js";
import { ProviderTimeoutError, type PaymentProvider } from "./providers/payment-provider.js";

interface PaymentRow {
	id: string;
	order_id: string;
	user_id: string;
	amount: string;
	currency: string;
	provider: string;
	status: PaymentStatus;
	failure_code: string | null;
	provider_reference: string | null;
	created_at: Date;
	updated_at: Date;
}

type PaymentThis = Service &
	PostgresThis &
	OutboxThis & {
		providers: Map<string, PaymentProvider>;
		chargeForOrder(message: OrderCreatedMessage): Promise<void>;
		announce(payment: PaymentRow): Promise<void>;
	};

const toPayment = (row: PaymentRow): Payment => ({
	id: row.id,
	orderId: row.order_id,
	userId: row.user_id,
	amount: Number(row.amount),
	currency: row.currency,
	provider: row.provider,
	status: row.status,
	failureCode: row.failure_code,
	providerReference: row.provider_reference,
	createdAt: new Date(row.created_at).toISOString(),
	updatedAt: new Date(row.updated_at).toISOString(),
});

const PaymentService: ServiceSchema<ServiceSettingSchema, PaymentThis> = {
	name: "payment",

	mixins: [PostgresMixin({ schema: "payments", migrations }), OutboxMixin({ schema: "payments", publishes: { [Channels.paymentSettled]: ChannelConsumers[Channels.paymentSettled] } })],

	actions: {
		list: {
			permissions: ["authenticated"],
			params: {
				$$strict: "remove",
				orderId: { type: "uuid", optional: true },
				page: { type: "number", integer: true, min: 1, default: 1, convert: true },
				pageSize: { type: "number", integer: true, min: 1, max: 100, default: 20, convert: true },
			},
			async handler(this: PaymentThis, ctx: Context<ListPaymentsParams, RequestMeta>): Promise<PaymentPage> {
				const user = ctx.meta.user!;
				const { orderId, page, pageSize } = ctx.params;
				// Shoppers see their own payments; admins see everyone's.
				const conditions = [user.role === "admin" ? null : "user_id = :userId", orderId ? "order_id = :orderId" : null].filter(Boolean);
				const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
				const replacements = { userId: user.id, orderId: orderId ?? null, limit: pageSize, offset: (page - 1) * pageSize };
				const [rows, [{ count }]] = await Promise.all([
					// The id breaks ties, so that pages never repeat or skip a payment.
					this.sequelize.query<PaymentRow>(`SELECT * FROM payments.payments ${where} ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset`, {
						replacements,
						type: QueryTypes.SELECT,
					}),
					this.sequelize.query<{ count: string }>(`SELECT count(*) FROM payments.payments ${where}`, { replacements, type: QueryTypes.SELECT }),
				]);
				const total = Number(count);
				return { items: rows.map(toPayment), page, pageSize, total, totalPages: Math.ceil(total / pageSize) };
			},
		},
	},

	channels: {
		// Durable and at-least-once: the queue holds orders while this service is
		// down, and the unique payment per order makes a redelivery harmless.
		[Channels.orderCreated]: {
			group: "payment",
			// A redelivery waits first (withBackoff), longer each time.
			handler: withBackoff(async function (this: PaymentThis, message: OrderCreatedMessage) {
				await this.chargeForOrder(message);
			}),
		},
	},

	methods: {
		async chargeForOrder(this: PaymentThis, message: OrderCreatedMessage) {
			const provider = this.providers.get(message.payment.provider);
			await this.sequelize.query(
				`INSERT INTO payments.payments (id, order_id, user_id, amount, currency, provider, status)
				 VALUES (:id, :orderId, :userId, :amount, :currency, :provider, 'processing')
				 ON CONFLICT (order_id) DO NOTHING`,
				{ replacements: { id: randomUUID(), orderId: message.orderId, userId: message.userId, amount: message.amount, currency: message.currency, provider: message.payment.provider } },
			);
			const [payment] = await this.sequelize.query<PaymentRow>(`SELECT * FROM payments.payments WHERE order_id = :orderId`, {
				replacements: { orderId: message.orderId },
				type: QueryTypes.SELECT,
			});
			// Settled (or waiting for reconciliation) on an earlier delivery.
			if (payment.status !== "processing") return;

			let outcome: { status: "succeeded" | "failed" | "pending"; providerReference: string | null; failureCode: string | null };
			if (!provider) {
				outcome = { status: "failed", providerReference: null, failureCode: "unknown_provider" };
			} else {
				try {
					const result = await provider.charge({ amount: Number(payment.amount), currency: payment.currency, token: message.payment.token, idempotencyKey: payment.order_id });
					outcome = { status: result.status, providerReference: result.providerReference, failureCode: result.status === "failed" ? result.failureCode : null };
				} catch (err) {
					if (!(err instanceof ProviderTimeoutError)) throw err;
					outcome = { status: "pending", providerReference: null, failureCode: null };
				}
			}

			const settled = await this.withTransaction(async (transaction) => {
				const [rows] = await this.sequelize.query(
					`UPDATE payments.payments SET status = :status, provider_reference = :providerReference, failure_code = :failureCode, updated_at = now()
					  WHERE id = :id AND status = 'processing' RETURNING *`,
					{ replacements: { id: payment.id, ...outcome }, transaction },
				);
				const row = (rows as PaymentRow[])[0];
				if (row && (row.status === "succeeded" || row.status === "failed")) {
					await this.addToOutbox(transaction, Channels.paymentSettled, {
						paymentId: row.id,
						orderId: row.order_id,
						userId: row.user_id,
						status: row.status,
						failureCode: row.failure_code,
					} satisfies PaymentSettledMessage);
				}
				return row;
			});
			if (!settled) return;
			this.relayOutbox().catch((err) => this.logger.warn("Outbox relay after payment failed; the timer retries:", (err as Error).message));
			await this.announce(settled);
		},

		async announce(this: PaymentThis, payment: PaymentRow) {
			await this.broker.emit<PaymentStatusEvent>(Events.paymentStatus, {
				paymentId: payment.id,
				orderId: payment.order_id,
				userId: payment.user_id,
				status: payment.status,
				failureCode: payment.failure_code,
				at: new Date().toISOString(),
			});
		},
	},

	created(this: PaymentThis) {
		this.providers = createPaymentProviders();
	},
};

export default PaymentService;
