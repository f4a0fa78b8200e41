/**
 * What crosses a service boundary: action params and results, event payloads
 * and durable channel messages. Both the caller and the callee import these.
 */

export type Role = "customer" | "admin";

/** The authenticated caller, set by the gateway (or websocket) from the access token. */
export interface AuthUser {
	id: string;
	email: string;
	role: Role;
}

/** `ctx.meta` as the gateway fills it. */
export interface RequestMeta {
	user?: AuthUser;
	idempotencyKey?: string;
	$statusCode?: number;
	/** The Location header of a 201 (moleculer-web reads it); the gateway sets it. */
	$location?: string;
}

/** Every list answer: one page of items and where it stands among all of them. */
export interface Page<T> {
	items: T[];
	page: number;
	pageSize: number;
	total: number;
	totalPages: number;
}

/** Which page of a list to answer; both have defaults in every list action. */
export interface PageParams {
	page: number;
	pageSize: number;
}

// ---- auth -----------------------------------------------------------------

export interface PublicUser {
	id: string;
	email: string;
	name: string;
	role: Role;
	createdAt: string;
}

export interface RegisterParams {
	email: string;
	password: string;
	name: string;
}

export interface LoginParams {
	email: string;
	password: string;
}

export interface RefreshParams {
	refreshToken: string;
}

export interface EnsureAdminParams {
	email: string;
	password: string;
	name?: string;
}

export interface AuthTokens {
	accessToken: string;
	refreshToken: string;
	expiresIn: number;
	user: PublicUser;
}

// ---- product / inventory ---------------------------------------------------

export interface Product {
	id: string;
	name: string;
	description: string;
	category: string | null;
	/** Integer minor units (cents). */
	price: number;
	/** ISO 4217. */
	currency: string;
	active: boolean;
	/** Units that can still be ordered. */
	available: number;
	createdAt: string;
	updatedAt: string;
}

export type ProductPage = Page<Product>;

export interface ListProductsParams extends PageParams {
	q?: string;
	category?: string;
	minPrice?: number;
	maxPrice?: number;
	sort: "name" | "-name" | "price" | "-price" | "createdAt" | "-createdAt";
}

export interface CreateProductParams {
	name: string;
	description: string;
	category?: string;
	price: number;
	currency: string;
	stock: number;
	active: boolean;
}

export interface StockLine {
	productId: string;
	quantity: number;
}

export interface ReserveStockParams {
	orderId: string;
	lines: StockLine[];
}

export interface ReleaseStockParams {
	orderId: string;
}

// ---- order -----------------------------------------------------------------

export const ORDER_STATUSES = ["pending_payment", "paid", "payment_failed", "cancelled"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface PaymentInstruction {
	provider: "simulated";
	token: string;
}

export interface CreateOrderParams {
	items: { productId: string; quantity: number }[];
	payment: PaymentInstruction;
}

export interface OrderLine {
	productId: string;
	name: string;
	unitPrice: number;
	quantity: number;
	lineTotal: number;
}

export interface Order {
	id: string;
	userId: string;
	status: OrderStatus;
	currency: string;
	totalAmount: number;
	items: OrderLine[];
	createdAt: string;
	updatedAt: string;
}

export type OrderPage = Page<Order>;

/** Actions of the order service called by other services. */
export const OrderActions = {
	/** Which of the given orders are recorded (the product service's reservation sweep). */
	placed: "order.placed",
} as const;

export interface PlacedOrdersParams {
	orderIds: string[];
}

// ---- payment ---------------------------------------------------------------

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

export interface ListPaymentsParams extends PageParams {
	orderId?: string;
}

export type PaymentPage = Page<Payment>;

// ---- logs ------------------------------------------------------------------

export interface AccessLogEntry {
	requestId: string;
	method: string;
	path: string;
	status: number;
	durationMs: number;
	userId: string | null;
	ip: string | null;
	at: string;
}

export interface ListLogsParams {
	method?: string;
	path?: string;
	status?: number;
	userId?: string;
	requestId?: string;
	since?: Date;
	limit: number;
}

// ---- durable channels (RabbitMQ, at-least-once; consumers are idempotent) ----

export const Channels = {
	orderCreated: "orders.created",
	paymentSettled: "payments.settled",
} as const;

/**
 * Who consumes each durable channel (the @moleculer/channels group). The
 * publisher declares these queues too, so a message published before its
 * consumer has ever started waits in the queue instead of being dropped.
 */
export const ChannelConsumers = {
	[Channels.orderCreated]: ["payment"],
	[Channels.paymentSettled]: ["order"],
} as const satisfies Record<string, readonly string[]>;

export interface OrderCreatedMessage {
	orderId: string;
	userId: string;
	amount: number;
	currency: string;
	payment: PaymentInstruction;
	createdAt: string;
}

export interface PaymentSettledMessage {
	paymentId: string;
	orderId: string;
	userId: string;
	status: Extract<PaymentStatus, "succeeded" | "failed">;
	failureCode: string | null;
}

// ---- notifications (Moleculer events; at-most-once, to people) ---------------

export const Events = {
	productChanged: "product.changed",
	productUnavailable: "product.unavailable",
	productBackInStock: "product.backInStock",
	orderStatus: "order.status",
	paymentStatus: "payment.status",
} as const;

export interface ProductChangedEvent {
	productIds: string[];
}

export interface ProductAvailabilityEvent {
	productId: string;
	name: string;
	available: number;
}

export interface OrderStatusEvent {
	orderId: string;
	userId: string;
	status: OrderStatus;
	previousStatus: OrderStatus | null;
	at: string;
}

export interface PaymentStatusEvent {
	paymentId: string;
	orderId: string;
	userId: string;
	status: PaymentStatus;
	failureCode: string | null;
	at: string;
}

/** What a socket.io client receives: the fact, with an id to ask for what it missed. */
export interface Notification<T> {
	id: string;
	event: string;
	data: T;
	at: string;
}
