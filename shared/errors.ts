import { Errors } from "moleculer";

/**
 * The errors a client can cause. Each has an HTTP status and a stable `type`
 * that the gateway returns as `error.code`; clients branch on the code, never
 * on the message.
 */
export class ShopClientError extends Errors.MoleculerClientError {
	constructor(message: string, status: number, code: string, details?: unknown) {
		super(message, status, code, details);
	}
}

export class NotFoundError extends ShopClientError {
	constructor(code: "PRODUCT_NOT_FOUND" | "ORDER_NOT_FOUND" | "USER_NOT_FOUND", message: string, details?: unknown) {
		super(message, 404, code, details);
	}
}

export class UnauthorizedError extends ShopClientError {
	constructor(code: "UNAUTHORIZED" | "INVALID_TOKEN" | "INVALID_CREDENTIALS" | "INVALID_REFRESH_TOKEN", message: string) {
		super(message, 401, code);
	}
}

export class ForbiddenError extends ShopClientError {
	constructor(message = "You are not allowed to do this") {
		super(message, 403, "FORBIDDEN");
	}
}

/** A limit was reached; `retryAfterSeconds` becomes the Retry-After header. */
export class TooManyRequestsError extends ShopClientError {
	constructor(
		message: string,
		readonly retryAfterSeconds: number,
	) {
		super(message, 429, "TOO_MANY_REQUESTS", { retryAfterSeconds });
	}
}

export class ConflictError extends ShopClientError {
	constructor(code: "EMAIL_TAKEN" | "IDEMPOTENCY_KEY_REUSED", message: string, details?: unknown) {
		super(message, 409, code, details);
	}
}

export interface StockShortage {
	productId: string;
	requested: number;
	available: number;
}

export class OutOfStockError extends ShopClientError {
	constructor(shortages: StockShortage[]) {
		super("Not enough stock for some of the requested products", 409, "OUT_OF_STOCK", { shortages });
	}
}

export class UnprocessableError extends ShopClientError {
	constructor(code: "CURRENCY_MISMATCH" | "PRODUCT_INACTIVE" | "PAYMENT_TOKEN_INVALID", message: string, details?: unknown) {
		super(message, 422, code, details);
	}
}

/**
 * A dependency of the service (its database, Redis, RabbitMQ) is unreachable:
 * the request may succeed when retried later. The gateway answers 503
 * SERVICE_UNAVAILABLE without the cause, which goes to the service's log.
 */
export class DependencyUnavailableError extends Errors.MoleculerRetryableError {
	constructor(dependency: string, cause?: unknown) {
		super(`${dependency} is unavailable${cause instanceof Error ? `: ${cause.message}` : ""}`, 503, "SERVICE_UNAVAILABLE", { dependency });
	}
}

export class UnsupportedMediaTypeError extends ShopClientError {
	constructor(message = "Send the request body as JSON, with content-type: application/json") {
		super(message, 415, "UNSUPPORTED_MEDIA_TYPE");
	}
}
