import type { AccessLogEntry, AuthTokens, CreateProductParams, Order, Product, ProductPage } from "../shared/contracts.js";

/**
 * An HTTP client for the shop's public API (`/api`), shared by the CLI and the
 * backoffice. Every failure becomes an ApiError carrying the API's stable
 * `error.code`, so callers branch on the code and print the message.
 */

export const DEFAULT_API_URL = "http://localhost:3000/api";

/** What POST /api/products takes; the fields with defaults may be left out. */
export type NewProduct = Omit<CreateProductParams, "description" | "currency" | "stock" | "active"> &
	Partial<Pick<CreateProductParams, "description" | "currency" | "stock" | "active">>;

export interface ReadinessReport {
	status: "ok" | "unavailable";
	checks: Record<string, string>;
}

export interface OrderPage {
	items: Order[];
	page: number;
	pageSize: number;
	total: number;
	totalPages: number;
}

export interface ProductQuery {
	q?: string;
	category?: string;
	page?: number;
	pageSize?: number;
	sort?: string;
}

export interface LogQuery {
	status?: number;
	path?: string;
	method?: string;
	limit?: number;
}

export class ApiError extends Error {
	constructor(
		readonly code: string,
		message: string,
		/** HTTP status; 0 when the API could not be reached at all. */
		readonly status: number,
		readonly requestId?: string,
		readonly details?: unknown,
	) {
		super(message);
		this.name = "ApiError";
	}

	/** One line for a terminal: `INVALID_CREDENTIALS: Email or password is wrong (request abc)`. */
	describe(): string {
		return `${this.code}: ${this.message}${this.requestId ? ` (request ${this.requestId})` : ""}`;
	}
}

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
	query?: Query;
	body?: unknown;
	headers?: Record<string, string>;
	/** HTTP statuses that answer with a regular body rather than the error body. */
	accept?: number[];
}

export class ApiClient {
	readonly baseUrl: string;

	constructor(
		baseUrl: string = DEFAULT_API_URL,
		/** Sent as `Authorization: Bearer <accessToken>` when set. */
		public accessToken?: string,
	) {
		this.baseUrl = baseUrl.replace(/\/+$/, "");
	}

	/** Logs in and keeps the access token for the following requests. */
	async login(email: string, password: string): Promise<AuthTokens> {
		const tokens = await this.request<AuthTokens>("POST", "/auth/login", { body: { email, password } });
		this.accessToken = tokens.accessToken;
		return tokens;
	}

	async register(email: string, password: string, name: string): Promise<AuthTokens> {
		const tokens = await this.request<AuthTokens>("POST", "/auth/register", { body: { email, password, name } });
		this.accessToken = tokens.accessToken;
		return tokens;
	}

	/** The readiness report, whether ready (200) or not (503). */
	readiness(): Promise<ReadinessReport> {
		return this.request<ReadinessReport>("GET", "/health/ready", { accept: [503] });
	}

	listProducts(query: ProductQuery = {}): Promise<ProductPage> {
		return this.request<ProductPage>("GET", "/products", { query: { ...query } });
	}

	createProduct(product: NewProduct): Promise<Product> {
		return this.request<Product>("POST", "/products", { body: product });
	}

	listOrders(query: { page?: number; pageSize?: number } = {}): Promise<OrderPage> {
		return this.request<OrderPage>("GET", "/orders", { query });
	}

	placeOrder(items: { productId: string; quantity: number }[], idempotencyKey?: string): Promise<Order> {
		return this.request<Order>("POST", "/orders", { body: { items }, headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} });
	}

	listLogs(query: LogQuery = {}): Promise<{ items: AccessLogEntry[] }> {
		return this.request<{ items: AccessLogEntry[] }>("GET", "/logs", { query: { ...query } });
	}

	async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
		const url = new URL(`${this.baseUrl}${path}`);
		for (const [name, value] of Object.entries(options.query ?? {})) {
			if (value !== undefined && value !== "") url.searchParams.set(name, String(value));
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
			if (body === undefined && text) throw new ApiError("BAD_RESPONSE", `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`, response.status);
			return body as T;
		}
		const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown } } | undefined)?.error;
		const requestId = typeof error?.requestId === "string" ? error.requestId : (response.headers.get("x-request-id") ?? undefined);
		if (error && typeof error.code === "string") {
			throw new ApiError(error.code, typeof error.message === "string" ? error.message : response.statusText, response.status, requestId, error.details);
		}
		throw new ApiError(`HTTP_${response.status}`, `${method} ${url.pathname} failed with ${response.status} ${response.statusText}`, response.status, requestId);
	}
}
