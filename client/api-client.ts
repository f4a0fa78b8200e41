import type {
	AccessLogEntry,
	AuthTokens,
	CreateOrderParams,
	CreateProductParams,
	ListLogsParams,
	ListProductsParams,
	LoginParams,
	Order,
	OrderPage,
	PageParams,
	Product,
	ProductPage,
	RegisterParams,
} from "../shared/contracts.js";
import type { HealthReport } from "../shared/health.js";

/**
 * An HTTP client for the shop's public API (`/api`), shared by the CLI, the
 * backoffice and their tests. What crosses the API is typed in
 * shared/contracts.ts, as for the services. Every failure becomes an ApiError
 * carrying the API's stable `error.code`, so callers branch on the code and
 * print the message.
 */

export const DEFAULT_API_URL = "http://localhost:3000/api";

/** GET /api/health/ready: the gateway's checks, and whether all of them are up. */
export interface ReadinessReport extends HealthReport {
	status: "ok" | "unavailable";
}

export class ApiError extends Error {
	constructor(
		readonly code: string,
		message: string,
		/** HTTP status; 0 when the API could not be reached at all. */
		readonly status: number,
		readonly requestId?: string,
	) {
		super(message);
		this.name = "ApiError";
	}

	/** One line for a terminal: `INVALID_CREDENTIALS: Email or password is wrong (request abc)`. */
	describe(): string {
		return `${this.code}: ${this.message}${this.requestId ? ` (request ${this.requestId})` : ""}`;
	}
}

type Query = Record<string, string | number | boolean | Date | undefined>;

interface RequestOptions {
	query?: Query;
	body?: unknown;
	headers?: Record<string, string>;
	/** HTTP statuses that answer with a regular body rather than the error body. */
	accept?: number[];
}

export class ApiClient {
	readonly baseUrl: string;
	/** Sent as `Authorization: Bearer <accessToken>` once logged in or registered. */
	private accessToken?: string;

	constructor(baseUrl: string = DEFAULT_API_URL) {
		this.baseUrl = baseUrl.replace(/\/+$/, "");
	}

	/** Logs in and keeps the access token for the following requests. */
	async login(email: string, password: string): Promise<AuthTokens> {
		const tokens = await this.request<AuthTokens>("POST", "/auth/login", { body: { email, password } satisfies LoginParams });
		this.accessToken = tokens.accessToken;
		return tokens;
	}

	async register(email: string, password: string, name: string): Promise<AuthTokens> {
		const tokens = await this.request<AuthTokens>("POST", "/auth/register", { body: { email, password, name } satisfies RegisterParams });
		this.accessToken = tokens.accessToken;
		return tokens;
	}

	/** The readiness report, whether ready (200) or not (503). */
	readiness(): Promise<ReadinessReport> {
		return this.request<ReadinessReport>("GET", "/health/ready", { accept: [503] });
	}

	listProducts(query: Partial<ListProductsParams> = {}): Promise<ProductPage> {
		return this.request<ProductPage>("GET", "/products", { query: { ...query } });
	}

	createProduct(product: CreateProductParams): Promise<Product> {
		return this.request<Product>("POST", "/products", { body: product });
	}

	listOrders(query: Partial<PageParams> = {}): Promise<OrderPage> {
		return this.request<OrderPage>("GET", "/orders", { query: { ...query } });
	}

	placeOrder(items: CreateOrderParams["items"], idempotencyKey?: string): Promise<Order> {
		return this.request<Order>("POST", "/orders", { body: { items }, headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} });
	}

	/** The latest access log entries, newest first (admin). Not a page: `limit` bounds it. */
	listLogs(query: Partial<ListLogsParams> = {}): Promise<{ items: AccessLogEntry[] }> {
		return this.request<{ items: AccessLogEntry[] }>("GET", "/logs", { query: { ...query } });
	}

	private async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
		const url = new URL(`${this.baseUrl}${path}`);
		for (const [name, value] of Object.entries(options.query ?? {})) {
			if (value !== undefined && value !== "") url.searchParams.set(name, value instanceof Date ? value.toISOString() : String(value));
		}
		const headers: Record<string, string> = { accept: "application/json", ...options.headers };
		if (options.body !== undefined) headers["content-type"] = "application/json";
		if (this.accessToken) headers.authorization = `Bearer ${this.accessToken}`;

		let response: Response;
		try {
			response = await fetch(url, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
		} catch (err) {
			const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
			throw new ApiError("UNREACHABLE", `Cannot reach the API at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, 0);
		}

		const text = await response.text();
		let body: unknown;
		try {
			body = text ? JSON.parse(text) : undefined;
		} catch {
			body = undefined;
		}
		if (response.ok || options.accept?.includes(response.status)) {
			if (body === undefined && text)
				throw new ApiError("BAD_RESPONSE", `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`, response.status);
			return body as T;
		}
		// Parsed field by field: a proxy in front of the API may answer with any body.
		const error = (body as { error?: { code?: unknown; message?: unknown; requestId?: unknown } } | undefined)?.error;
		const requestId = typeof error?.requestId === "string" ? error.requestId : (response.headers.get("x-request-id") ?? undefined);
		if (error && typeof error.code === "string") {
			throw new ApiError(error.code, typeof error.message === "string" ? error.message : response.statusText, response.status, requestId);
		}
		throw new ApiError(
			`HTTP_${response.status}`,
			`${method} ${url.pathname} failed with ${response.status} ${response.statusText}`,
			response.status,
			requestId,
		);
	}
}
