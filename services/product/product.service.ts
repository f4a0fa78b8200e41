import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { CursorOptions, DbAdapter } from "moleculer-db";
import {
	Events,
	MAX_PRODUCT_ID_LENGTH,
	OrderActions,
	pageOf,
	ProductActions,
	type ListProductsParams,
	type ParamsOf,
	type Product,
	type ProductAvailabilityEvent,
	type ProductChangedEvent,
	type ProductPage,
	type RequestMeta,
	type ReserveStockParams,
	type StockChange,
} from "../../shared/contracts.js";
import { announceCommitted } from "../../shared/announce-committed.js";
import { callAction } from "../../shared/call-action.js";
import { NotFoundError } from "../../shared/errors.js";
import { fieldsError } from "../../shared/validation.js";
import { CatalogStoreMixin } from "../../shared/mixins/catalog-store.mixin.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import type { ShopService } from "../../shared/service-settings.js";
import { catalogSchema, type CatalogDocument } from "./catalog.model.js";
import { InventoryRepository } from "./inventory.repository.js";
import { migrations } from "./migrations/index.js";

type ProductThis = ShopService &
	PostgresThis & {
		adapter: DbAdapter;
		catalogEntry(doc: object): Promise<CatalogDocument>;
		inventory: InventoryRepository;
		sweepTimer?: NodeJS.Timeout;
		toProducts(docs: object[]): Promise<Product[]>;
		announceStockChanges(ctx: Context | null, changes: StockChange[]): Promise<void>;
		broadcastStockChanges(ctx: Context | null, changes: StockChange[]): Promise<void>;
		sweepReservations(): Promise<{ confirmed: number; released: number }>;
	};

/** A list is cached per combination of every param it is filtered, sorted and paged by. */
const LIST_CACHE_KEYS = Object.keys(ProductActions.list.params).filter((key) => !key.startsWith("$$"));

/** Matches `text` literally, every RegExp character escaped. */
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const ProductService: ServiceSchema<ServiceSettingSchema, ProductThis> = {
	name: "product",

	mixins: [CatalogStoreMixin("Product", catalogSchema), PostgresMixin({ schema: "inventory", migrations })],

	actions: {
		list: {
			cache: { keys: LIST_CACHE_KEYS },
			params: ProductActions.list.params,
			async handler(this: ProductThis, ctx: Context<ListProductsParams>): Promise<ProductPage> {
				const { page, pageSize, q, category, minPrice, maxPrice, sort } = ctx.params;
				if (minPrice !== undefined && maxPrice !== undefined && minPrice > maxPrice) {
					throw fieldsError([
						{
							field: "minPrice",
							type: "numberMax",
							message: `The 'minPrice' field must be at most maxPrice (${maxPrice}); got ${minPrice}.`,
							actual: minPrice,
							expected: maxPrice,
						},
						{
							field: "maxPrice",
							type: "numberMin",
							message: `The 'maxPrice' field must be at least minPrice (${minPrice}); got ${maxPrice}.`,
							actual: maxPrice,
							expected: minPrice,
						},
					]);
				}
				const query: Record<string, unknown> = { active: true };
				if (q) query.name = new RegExp(escapeRegExp(q), "i");
				// Keywords match whatever their case ("Coffee" finds "coffee"). An
				// anchored, escaped RegExp with `i` means the same to MongoDB,
				// jongodb and the memory adapter (NeDB); MongoDB cannot use the
				// category index for it as well as for an exact match, which a
				// catalog of this size does not notice.
				if (category) query.category = new RegExp(`^${escapeRegExp(category)}$`, "i");
				if (minPrice !== undefined || maxPrice !== undefined) {
					query.price = { ...(minPrice !== undefined && { $gte: minPrice }), ...(maxPrice !== undefined && { $lte: maxPrice }) };
				}
				// A tie-breaker on _id keeps pages stable when sort keys are equal.
				const cursor: CursorOptions = { query, sort: [sort, "_id"], offset: (page - 1) * pageSize, limit: pageSize };
				const [docs, total] = await Promise.all([this.adapter.find(cursor), this.adapter.count({ query })]);
				return pageOf(await this.toProducts(docs), total, ctx.params);
			},
		},

		get: {
			cache: { keys: ["id"] },
			params: ProductActions.get.params,
			async handler(this: ProductThis, ctx: Context<ParamsOf<typeof ProductActions.get>>): Promise<Product> {
				const doc = ctx.params.id.length > MAX_PRODUCT_ID_LENGTH ? null : await this.adapter.findById(ctx.params.id);
				if (!doc) throw new NotFoundError("PRODUCT_NOT_FOUND", `Product ${ctx.params.id} does not exist`, { productId: ctx.params.id });
				const [product] = await this.toProducts([doc]);
				return product;
			},
		},

		getMany: {
			visibility: "public",
			callers: ["order"],
			params: ProductActions.getMany.params,
			async handler(this: ProductThis, ctx: Context<ParamsOf<typeof ProductActions.getMany>>): Promise<Product[]> {
				return this.toProducts(await this.adapter.findByIds([...new Set(ctx.params.ids)]));
			},
		},

		create: {
			permissions: ["admin"],
			params: ProductActions.create.params,
			async handler(this: ProductThis, ctx: Context<ParamsOf<typeof ProductActions.create>>): Promise<Product> {
				const { name, description, category, price, currency, stock, active } = ctx.params;
				const now = new Date();
				const doc: CatalogDocument = {
					_id: randomUUID(),
					name,
					description,
					category: category ?? null,
					price,
					currency,
					active,
					createdAt: now,
					updatedAt: now,
				};
				const inserted = await this.adapter.insert(doc);
				try {
					await this.inventory.create(doc._id, stock);
				} catch (err) {
					// Two stores, no shared transaction: undo the catalog entry so
					// that no product exists without a stock level.
					await this.adapter.removeById(doc._id);
					throw err;
				}
				await announceCommitted(this.logger, `Product ${doc._id} created`, () =>
					ctx.broadcast<ProductChangedEvent>(Events.productChanged, { productIds: [doc._id] }),
				);
				(ctx.meta as RequestMeta).$statusCode = 201;
				const [product] = await this.toProducts([inserted]);
				return product;
			},
		},

		reserve: {
			visibility: "public",
			callers: ["order"],
			params: ProductActions.reserve.params,
			async handler(this: ProductThis, ctx: Context<ReserveStockParams>): Promise<StockChange[]> {
				const changes = await this.inventory.reserve(ctx.params.orderId, ctx.params.lines);
				await this.announceStockChanges(ctx, changes);
				return changes;
			},
		},

		release: {
			visibility: "public",
			callers: ["order"],
			params: ProductActions.release.params,
			async handler(this: ProductThis, ctx: Context<ParamsOf<typeof ProductActions.release>>): Promise<StockChange[]> {
				const changes = await this.inventory.release(ctx.params.orderId);
				await this.announceStockChanges(ctx, changes);
				return changes;
			},
		},
	},

	events: {
		// Broadcast, so that every product node cleans its cache (the memory
		// cacher is per node; the Redis one is shared and cleaning twice is harmless).
		// Only the changed products' entries and the lists go; other products stay cached.
		[Events.productChanged]: {
			params: { productIds: { type: "array", items: "string" } },
			async handler(this: ProductThis, ctx: Context<ProductChangedEvent>) {
				await this.broker.cacher?.clean([...ctx.params.productIds.map((id) => `${this.fullName}.get:${id}`), `${this.fullName}.list:**`]);
			},
		},
	},

	methods: {
		/** A stored document as plain data; the mongoose adapter answers with a promise, the memory adapter without. */
		async catalogEntry(this: ProductThis, doc: object): Promise<CatalogDocument> {
			return (await this.adapter.entityToObject(doc)) as CatalogDocument;
		},

		async toProducts(this: ProductThis, docs: object[]): Promise<Product[]> {
			const entries = await Promise.all(docs.map((doc) => this.catalogEntry(doc)));
			const stock = await this.inventory.availability(entries.map((e) => e._id));
			return entries.map((e) => ({
				id: e._id,
				name: e.name,
				description: e.description,
				category: e.category ?? null,
				price: e.price,
				currency: e.currency,
				active: e.active,
				available: stock.get(e._id) ?? 0,
				createdAt: new Date(e.createdAt).toISOString(),
				updatedAt: new Date(e.updatedAt).toISOString(),
			}));
		},

		// After the commit: a failed announcement never fails a reservation or release (caches expire on their TTL).
		async announceStockChanges(this: ProductThis, ctx: Context | null, changes: StockChange[]) {
			await announceCommitted(this.logger, "Stock changed", () => this.broadcastStockChanges(ctx, changes));
		},

		async broadcastStockChanges(this: ProductThis, ctx: Context | null, changes: StockChange[]) {
			if (!changes.length) return;
			// From a request, in its context (traced with it); from the sweep, from the broker.
			const emitter = ctx ?? this.broker;
			await emitter.broadcast<ProductChangedEvent>(Events.productChanged, { productIds: changes.map((c) => c.productId) });
			const crossed = changes.filter((c) => c.crossedZero);
			if (!crossed.length) return;
			const docs = await Promise.all((await this.adapter.findByIds(crossed.map((c) => c.productId))).map((d) => this.catalogEntry(d)));
			const names = new Map(docs.map((d) => [d._id, d.name]));
			for (const change of crossed) {
				const event = change.available === 0 ? Events.productUnavailable : Events.productBackInStock;
				await emitter.emit<ProductAvailabilityEvent>(event, {
					productId: change.productId,
					name: names.get(change.productId) ?? change.productId,
					available: change.available,
				});
			}
		},

		/**
		 * Releases the stock of orders that were never recorded. order.create
		 * reserves, then records the order, and gives the stock back when
		 * recording fails; if giving it back fails too (RabbitMQ or this
		 * service unreachable), the reservation is left unconfirmed. Once it is
		 * older than any order.create can take, the order service says which of
		 * those orders it has: their reservations are confirmed, the others
		 * released. While the order service does not answer, nothing is decided.
		 */
		async sweepReservations(this: ProductThis): Promise<{ confirmed: number; released: number }> {
			const orderIds = await this.inventory.unconfirmedOrders(this.settings.config.reservationGraceSeconds, 100);
			if (!orderIds.length) return { confirmed: 0, released: 0 };
			const placed = new Set(await callAction(this, OrderActions.placed, { orderIds }));
			await this.inventory.confirm(orderIds.filter((id) => placed.has(id)));
			const orphans = orderIds.filter((id) => !placed.has(id));
			for (const orderId of orphans) {
				this.logger.warn(`Releasing the stock of order ${orderId}: it was reserved but the order was never recorded`);
				await this.announceStockChanges(null, await this.inventory.release(orderId));
			}
			return { confirmed: placed.size, released: orphans.length };
		},
	},

	created(this: ProductThis) {
		this.inventory = new InventoryRepository(this.sequelize);
	},

	started(this: ProductThis) {
		this.sweepTimer = setInterval(
			() => {
				this.sweepReservations().catch((err: Error) => this.logger.debug("Reservation sweep skipped; it runs again on the next tick:", err.message));
			},
			Math.min(this.settings.config.reservationGraceSeconds, 30) * 1000,
		);
		this.sweepTimer.unref();
	},

	stopped(this: ProductThis) {
		clearInterval(this.sweepTimer);
	},
};

export default ProductService;
