import type { PaymentProviderName } from "../../../shared/contracts.js";
import type { PaymentProvider } from "./payment-provider.js";
import { SimulatedProvider } from "./simulated.provider.js";

/**
 * One instance of every provider, by name. The payment service charges with
 * them; the order service asks them, before it reserves anything, whether they
 * accept an order's token. That check is imported rather than a call to the
 * payment service because an order must be taken while the payment service is
 * down (orders.created waits for it in a durable queue); `accepts` is pure
 * code, with no state, I/O or credentials, so both services can hold a copy.
 */
export function createPaymentProviders(): Map<string, PaymentProvider> {
	const providers: Record<PaymentProviderName, PaymentProvider> = { simulated: new SimulatedProvider() };
	return new Map(Object.entries(providers));
}
