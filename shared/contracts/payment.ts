import { pageParams, type Page } from "./common.js";
import { action, type ParamsOf } from "./params.js";

/** The providers an order may name as `payment.provider`. */
export const PAYMENT_PROVIDERS = ["simulated"] as const;
export type PaymentProviderName = (typeof PAYMENT_PROVIDERS)[number];

export type PaymentStatus = "processing" | "succeeded" | "failed" | "pending";

export interface Payment {
	id: string;
	orderId: string;
	userId: string;
	amount: number;
	currency: string;
	provider: string;
	status: PaymentStatus;
	failureCode: string | null;
	providerReference: string | null;
	createdAt: string;
	updatedAt: string;
}

export type PaymentPage = Page<Payment>;

export const PaymentActions = {
	list: action<PaymentPage>()("payment.list", { ...pageParams, orderId: { type: "uuid", optional: true } }),
} as const;

export type ListPaymentsParams = ParamsOf<typeof PaymentActions.list>;

/** Channels.paymentSettled: the order service moves the order on. */
export interface PaymentSettledMessage {
	paymentId: string;
	orderId: string;
	userId: string;
	status: Extract<PaymentStatus, "succeeded" | "failed">;
	failureCode: string | null;
}

/** Events.paymentStatus. */
export interface PaymentStatusEvent {
	paymentId: string;
	orderId: string;
	userId: string;
	status: PaymentStatus;
	failureCode: string | null;
	at: string;
}
