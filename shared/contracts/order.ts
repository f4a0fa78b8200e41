import { pageParams, type Page } from "./common.js";
import { action, type ParamsOf } from "./params.js";
import { PAYMENT_PROVIDERS } from "./payment.js";
import { MAX_PRODUCT_ID_LENGTH, MAX_UNITS_PER_LINE } from "./product.js";

export const ORDER_STATUSES = ["pending_payment", "paid", "payment_failed", "cancelled"] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

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

export const OrderActions = {
	create: action<Order>()("order.create", {
		items: {
			type: "array",
			min: 1,
			max: 50,
			items: {
				type: "object",
				strict: "remove",
				props: {
					productId: { type: "string", min: 1, max: MAX_PRODUCT_ID_LENGTH },
					quantity: { type: "number", integer: true, min: 1, max: MAX_UNITS_PER_LINE },
				},
			},
		},
		payment: {
			type: "object",
			strict: "remove",
			default: { provider: "simulated", token: "tok_visa" },
			props: {
				provider: { type: "enum", values: PAYMENT_PROVIDERS },
				token: { type: "string", min: 1, max: 100, default: "tok_visa" },
			},
		},
	}),
	list: action<OrderPage>()("order.list", { ...pageParams }),
	// Any string: an id that is not a UUID is an order that does not exist
	// (404, as for GET /products/:id), and never reaches PostgreSQL, which
	// would refuse it as a uuid.
	get: action<Order>()("order.get", { id: { type: "string" } }),
	/** Internal: which of these orders are recorded (the product service's reservation sweep). */
	placed: action<string[]>()("order.placed", { orderIds: { type: "array", items: "uuid", min: 1, max: 100 } }),
} as const;

export type CreateOrderParams = ParamsOf<typeof OrderActions.create>;
export type PaymentInstruction = CreateOrderParams["payment"];

/** Channels.orderCreated: the payment service charges for it. */
export interface OrderCreatedMessage {
	orderId: string;
	userId: string;
	amount: number;
	currency: string;
	payment: PaymentInstruction;
	createdAt: string;
}

/** Events.orderStatus. */
export interface OrderStatusEvent {
	orderId: string;
	userId: string;
	status: OrderStatus;
	previousStatus: OrderStatus | null;
	at: string;
}
