import { createHash } from "node:crypto";
import { ProviderTimeoutError, type ChargeRequest, type ChargeResult, type PaymentProvider } from "./payment-provider.js";

/**
 * A provider with test tokens that choose the outcome, like a real provider's
 * test mode. The reference is derived from the idempotency key, so charging
 * the same key again returns the same charge, as a real provider would.
 */
export const SIMULATED_TOKENS = {
	tok_visa: "succeeds",
	tok_chargeDeclined: "card_declined",
	tok_insufficientFunds: "insufficient_funds",
	// The payment stays `pending`: no reconciliation asks the provider again yet.
	tok_timeout: "answers late",
} as const;

export class SimulatedProvider implements PaymentProvider {
	readonly name = "simulated";

	accepts(token: string): boolean {
		return Object.hasOwn(SIMULATED_TOKENS, token);
	}

	async charge({ token, idempotencyKey }: ChargeRequest): Promise<ChargeResult> {
		const providerReference = `sim_ch_${createHash("sha256").update(idempotencyKey).digest("hex").slice(0, 24)}`;
		switch (token) {
			case "tok_visa":
				return { status: "succeeded", providerReference };
			case "tok_chargeDeclined":
				return { status: "failed", providerReference, failureCode: "card_declined" };
			case "tok_insufficientFunds":
				return { status: "failed", providerReference, failureCode: "insufficient_funds" };
			case "tok_timeout":
				throw new ProviderTimeoutError(this.name);
			default:
				// Refused when the order is placed (accepts); kept for messages queued before that check.
				return { status: "failed", providerReference, failureCode: "invalid_token" };
		}
	}
}
