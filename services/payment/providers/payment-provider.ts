/**
 * What the payment service needs from a payment provider. Real providers
 * (Stripe, Adyen, ...) implement the same interface; card data never passes
 * through the system, only the provider's tokens.
 */
export interface ChargeRequest {
	amount: number;
	currency: string;
	token: string;
	/** The provider charges at most once per key, whatever the retries. */
	idempotencyKey: string;
}

export type ChargeResult = { status: "succeeded"; providerReference: string } | { status: "failed"; providerReference: string; failureCode: string };

/** The provider did not answer in time: the outcome is unknown (the payment stays `pending`). */
export class ProviderTimeoutError extends Error {
	constructor(readonly provider: string) {
		super(`${provider} did not answer in time`);
		this.name = "ProviderTimeoutError";
	}
}

export interface PaymentProvider {
	readonly name: string;
	/**
	 * Whether `token` is one this provider can charge, judged without asking
	 * it (no network, no state): an order with a token it refuses is refused
	 * when it is placed, instead of failing at payment.
	 */
	accepts(token: string): boolean;
	charge(request: ChargeRequest): Promise<ChargeResult>;
}
