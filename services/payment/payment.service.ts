import { randomUUID } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import {
	Channels,
	Events,
	pageOf,
	PaymentActions,
	type ListPaymentsParams,
	type OrderCreatedMessage,
	type Payment,
	type PaymentPage,
	type PaymentSettledMessage,
	type PaymentStatusEvent,
	type RequestMeta,
} from "../../shared/contracts.js";
import { announceCommitted } from "../../shared/announce-committed.js";
import { withBackoff } from "../../shared/channel-retry.js";
import { OutboxMixin, type OutboxThis } from "../../shared/mixins/outbox.mixin.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import { migrations } from "./migrations/index.js";
import { PaymentRepository, type PaymentOutcome } from "./payment.repository.js";
import { createPaymentProviders } from "./providers/index.js";
import { ProviderTimeoutError, type PaymentProvider } from "./providers/payment-provider.js";

type PaymentThis = Service &
	PostgresThis &
	OutboxThis & {
		providers: Map<string, PaymentProvider>;
		payments: PaymentRepository;
		chargeForOrder(message: OrderCreatedMessage): Promise<void>;
		openPayment(message: OrderCreatedMessage): Promise<Payment>;
		askProvider(payment: Payment, token: string): Promise<PaymentOutcome>;
		settle(payment: Payment, outcome: PaymentOutcome): Promise<Payment | null>;
		announce(payment: Payment): Promise<void>;
	};

const PaymentService: ServiceSchema<ServiceSettingSchema, PaymentThis> = {
	name: "payment",

	mixins: [PostgresMixin({ schema: "payments", migrations }), OutboxMixin({ schema: "payments", publishes: [Channels.paymentSettled] })],

	actions: {
		list: {
			permissions: ["authenticated"],
			params: PaymentActions.list.params,
			async handler(this: PaymentThis, ctx: Context<ListPaymentsParams, RequestMeta>): Promise<PaymentPage> {
				const user = ctx.meta.user!;
				const { orderId, page, pageSize } = ctx.params;
				// Shoppers see their own payments; admins see everyone's.
				const filter = { userId: user.role === "admin" ? null : user.id, orderId: orderId ?? null };
				const { items, total } = await this.payments.list(filter, pageSize, (page - 1) * pageSize);
				return pageOf(items, total, ctx.params);
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
		/** Charges once per order, whatever the redeliveries: open, ask the provider, settle, announce. */
		async chargeForOrder(this: PaymentThis, message: OrderCreatedMessage) {
			const payment = await this.openPayment(message);
			// Settled (or waiting for reconciliation) on an earlier delivery.
			if (payment.status !== "processing") return;
			const outcome = await this.askProvider(payment, message.payment.token);
			const settled = await this.settle(payment, outcome);
			if (!settled) return;
			this.relayOutboxSoon();
			await this.announce(settled);
		},

		/** The order's one payment: recorded as `processing` on the first delivery, read back on every one. */
		async openPayment(this: PaymentThis, message: OrderCreatedMessage): Promise<Payment> {
			await this.payments.insertProcessing({
				id: randomUUID(),
				orderId: message.orderId,
				userId: message.userId,
				amount: message.amount,
				currency: message.currency,
				provider: message.payment.provider,
			});
			return (await this.payments.findByOrderId(message.orderId))!;
		},

		/** What the provider says; no answer in time leaves the payment `pending` (its outcome is unknown). */
		async askProvider(this: PaymentThis, payment: Payment, token: string): Promise<PaymentOutcome> {
			const provider = this.providers.get(payment.provider);
			if (!provider) return { status: "failed", providerReference: null, failureCode: "unknown_provider" };
			try {
				// The order id as the provider's idempotency key: it charges at most once per order.
				const result = await provider.charge({ amount: payment.amount, currency: payment.currency, token, idempotencyKey: payment.orderId });
				return {
					status: result.status,
					providerReference: result.providerReference,
					failureCode: result.status === "failed" ? result.failureCode : null,
				};
			} catch (err) {
				if (!(err instanceof ProviderTimeoutError)) throw err;
				return { status: "pending", providerReference: null, failureCode: null };
			}
		},

		/** Records the outcome and, once final, the settlement fact in the same transaction; null if another delivery settled it first. */
		async settle(this: PaymentThis, payment: Payment, outcome: PaymentOutcome): Promise<Payment | null> {
			return this.withTransaction(async (transaction) => {
				const row = await this.payments.settle(payment.id, outcome, transaction);
				if (row && (row.status === "succeeded" || row.status === "failed")) {
					await this.addToOutbox(transaction, Channels.paymentSettled, {
						paymentId: row.id,
						orderId: row.orderId,
						userId: row.userId,
						status: row.status,
						failureCode: row.failureCode,
					} satisfies PaymentSettledMessage);
				}
				return row;
			});
		},

		// After the commit: a failed announcement never fails the payment (nor redelivers the order).
		async announce(this: PaymentThis, payment: Payment) {
			await announceCommitted(this.logger, `Payment ${payment.id} is ${payment.status}`, () =>
				this.broker.emit<PaymentStatusEvent>(Events.paymentStatus, {
					paymentId: payment.id,
					orderId: payment.orderId,
					userId: payment.userId,
					status: payment.status,
					failureCode: payment.failureCode,
					at: new Date().toISOString(),
				}),
			);
		},
	},

	created(this: PaymentThis) {
		this.providers = createPaymentProviders();
		this.payments = new PaymentRepository(this.sequelize);
	},
};

export default PaymentService;
