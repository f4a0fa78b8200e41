import { pageParams, type Page } from "./common.js";
import { action, type CallParamsOf, type ParamsOf } from "./params.js";

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

/** The most units of one product that one order may reserve. */
export const MAX_UNITS_PER_LINE = 1000;

/** The longest product id the catalog makes (UUIDs) or accepts. */
export const MAX_PRODUCT_ID_LENGTH = 64;

const productId = { type: "string", min: 1, max: MAX_PRODUCT_ID_LENGTH } as const;

/** What one change of stock did to a product (answered by reserve and release). */
export interface StockChange {
	productId: string;
	available: number;
	/** The change made the product unavailable (0 left) or available again. */
	crossedZero: boolean;
}

export const ProductActions = {
	list: action<ProductPage>()("product.list", {
		...pageParams,
		q: { type: "string", optional: true, trim: true, max: 100 },
		category: { type: "string", optional: true, trim: true, max: 100 },
		minPrice: { type: "number", integer: true, min: 0, optional: true, convert: true },
		maxPrice: { type: "number", integer: true, min: 0, optional: true, convert: true },
		sort: { type: "enum", values: ["name", "-name", "price", "-price", "createdAt", "-createdAt"], default: "-createdAt" },
	}),
	// Any string: an id the catalog cannot hold is a product that does not
	// exist (404, as for GET /orders/:id), not a malformed request.
	get: action<Product>()("product.get", { id: { type: "string", min: 1 } }),
	/** Internal (no route): the catalog entries an order is priced from, fresh, not cached. */
	getMany: action<Product[]>()("product.getMany", { ids: { type: "array", items: productId, min: 1, max: 100 } }),
	create: action<Product>()("product.create", {
		name: { type: "string", trim: true, min: 1, max: 200 },
		description: { type: "string", max: 5000, default: "" },
		category: { type: "string", trim: true, min: 1, max: 100, optional: true },
		price: { type: "number", integer: true, min: 0, max: 100_000_000 },
		currency: { type: "string", pattern: /^[A-Z]{3}$/, default: "EUR" },
		stock: { type: "number", integer: true, min: 0, max: 10_000_000, default: 0 },
		active: { type: "boolean", default: true },
	}),
	/** Internal: reserves every line of an order, all or none (409 OUT_OF_STOCK otherwise). */
	reserve: action<StockChange[]>()("product.reserve", {
		orderId: { type: "uuid" },
		lines: {
			type: "array",
			min: 1,
			max: 100,
			items: {
				type: "object",
				strict: "remove",
				props: { productId, quantity: { type: "number", integer: true, min: 1, max: MAX_UNITS_PER_LINE } },
			},
		},
	}),
	/** Internal: compensation when an order cannot go on (payment failed, order not stored). */
	release: action<StockChange[]>()("product.release", { orderId: { type: "uuid" } }),
} as const;

export type ListProductsParams = ParamsOf<typeof ProductActions.list>;
export type CreateProductParams = CallParamsOf<typeof ProductActions.create>;
export type ReserveStockParams = ParamsOf<typeof ProductActions.reserve>;
export type StockLine = ReserveStockParams["lines"][number];

/** Events.productChanged: these products' cached entries are stale. */
export interface ProductChangedEvent {
	productIds: string[];
}

/** Events.productUnavailable and Events.productBackInStock. */
export interface ProductAvailabilityEvent {
	productId: string;
	name: string;
	available: number;
}
