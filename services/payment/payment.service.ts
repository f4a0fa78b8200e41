import { randomUUID } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import {
	ChannelConsumers,
	Channels,
	Events,
	type ListPaymentsParams,
	type OrderCreatedMessage,
	type Payment,
	type PaymentPage,
	type PaymentSettledMessage,
	type PaymentStatusEvent,
	type RequestMeta,
} from "../../shared/contracts.js";
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
		announce(payment: Payment): Promise<void>;
	};

const PaymentService: ServiceSchema<ServiceSettingSchema, PaymentThis> = {
	name: "payment",

	mixins: [
		PostgresMixin({ schema: "payments", migrations }),
		OutboxMixin({ schema: "payments", publishes: { [Channels.paymentSettled]: ChannelConsumers[Channels.paymentSettled] } }),
	],

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
				const filter = { userId: user.role === "admin" ? null : user.id, orderId: orderId ?? null };
				const { items, total } = await this.payments.list(filter, pageSize, (page - 1) * pageSize);
				return { items, page, pageSize, total, totalPages: Math.ceil(total / pageSize) };
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
			await this.payments.insertProcessing({
				id: randomUUID(),
				orderId: message.orderId,
				userId: message.userId,
				amount: message.amount,
				currency: message.currency,
				provider: message.payment.provider,
			});
			const payment = (await this.payments.findByOrderId(message.orderId))!;
			// Settled (or waiting for reconciliation) on an earlier delivery.
			if (payment.status !== "processing") return;

			let outcome: PaymentOutcome;
			if (!provider) {
				outcome = { status: "failed", providerReference: null, failureCode: "unknown_provider" };
			} else {
				try {
					const result = await provider.charge({
						amount: payment.amount,
						currency: payment.currency,
						token: message.payment.token,
						idempotencyKey: payment.orderId,
					});
					outcome = {
						status: result.status,
						providerReference: result.providerReference,
						failureCode: result.status === "failed" ? result.failureCode : null,
					};
				} catch (err) {
					if (!(err instanceof ProviderTimeoutError)) throw err;
					outcome = { status: "pending", providerReference: null, failureCode: null };
				}
			}

			const settled = await this.withTransaction(async (transaction) => {
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
			if (!settled) return;
			this.relayOutbox().catch((err) => this.logger.warn("Outbox relay after payment failed; the timer retries:", (err as Error).message));
			await this.announce(settled);
		},

		async announce(this: PaymentThis, payment: Payment) {
			await this.broker.emit<PaymentStatusEvent>(Events.paymentStatus, {
				paymentId: payment.id,
				orderId: payment.orderId,
				userId: payment.userId,
				status: payment.status,
				failureCode: payment.failureCode,
				at: new Date().toISOString(),
			});
		},
	},

	created(this: PaymentThis) {
		this.providers = createPaymentProviders();
		this.payments = new PaymentRepository(this.sequelize);
	},
};

export default PaymentService;
