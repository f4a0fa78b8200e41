import type { Transaction } from "sequelize";
import type { Order, OrderLine, OrderStatus } from "../../shared/contracts.js";
import { SqlRepository } from "../../shared/sql-repository.js";

interface OrderRow {
	id: string;
	user_id: string;
	status: OrderStatus;
	currency: string;
	total_amount: string;
	request_hash: string;
	created_at: Date;
	updated_at: Date;
}

interface ItemRow {
	order_id: string;
	product_id: string;
	name: string;
	unit_price: string;
	quantity: number;
	line_total: string;
}

export interface NewOrder {
	id: string;
	userId: string;
	currency: string;
	totalAmount: number;
	paymentProvider: string;
	idempotencyKey: string | null;
	requestHash: string;
	items: OrderLine[];
}

export interface StoredOrder extends Order {
	requestHash: string;
}

/** SQL for the `orders` schema; the service decides when, this says how. */
export class OrderRepository extends SqlRepository {
	async insert(order: NewOrder, transaction: Transaction): Promise<void> {
		await this.execute(
			`INSERT INTO orders.orders (id, user_id, status, currency, total_amount, payment_provider, idempotency_key, request_hash)
			 VALUES (:id, :userId, 'pending_payment', :currency, :totalAmount, :paymentProvider, :idempotencyKey, :requestHash)`,
			{ ...order },
			transaction,
		);
		// Each line's position is its place in `items`: answers list the lines as they were sent.
		for (const [position, item] of order.items.entries()) {
			await this.execute(
				`INSERT INTO orders.order_items (order_id, product_id, name, unit_price, quantity, line_total, position)
				 VALUES (:orderId, :productId, :name, :unitPrice, :quantity, :lineTotal, :position)`,
				{ orderId: order.id, ...item, position },
				transaction,
			);
		}
		await this.recordTransition(order.id, null, "pending_payment", "order placed", transaction);
	}

	/** Moves the order only if it is still in `from`; returns false when it was not (already moved). */
	async transition(orderId: string, from: OrderStatus, to: OrderStatus, reason: string, transaction: Transaction): Promise<boolean> {
		const affected = await this.execute(
			`UPDATE orders.orders SET status = :to, updated_at = now() WHERE id = :orderId AND status = :from`,
			{ orderId, from, to },
			transaction,
		);
		if (!affected) return false;
		await this.recordTransition(orderId, from, to, reason, transaction);
		return true;
	}

	async findById(id: string, transaction?: Transaction): Promise<StoredOrder | null> {
		const row = await this.row<OrderRow>(`SELECT * FROM orders.orders WHERE id = :id`, { id }, transaction);
		return row ? (await this.withItems([row], transaction))[0] : null;
	}

	async findByIdempotencyKey(userId: string, key: string): Promise<StoredOrder | null> {
		const row = await this.row<OrderRow>(`SELECT * FROM orders.orders WHERE user_id = :userId AND idempotency_key = :key`, { userId, key });
		return row ? (await this.withItems([row]))[0] : null;
	}

	/** Those of `ids` that are recorded orders. */
	async existingIds(ids: string[]): Promise<string[]> {
		if (!ids.length) return [];
		const rows = await this.rows<{ id: string }>(`SELECT id FROM orders.orders WHERE id IN (:ids)`, { ids });
		return rows.map((row) => row.id);
	}

	/** The newest orders first; those of `userId`, or everyone's when it is null. */
	async list(userId: string | null, limit: number, offset: number): Promise<{ items: Order[]; total: number }> {
		const filter = userId ? "WHERE user_id = :userId" : "";
		const rows = await this.rows<OrderRow>(`SELECT * FROM orders.orders ${filter} ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset`, {
			userId,
			limit,
			offset,
		});
		const [{ count }] = await this.rows<{ count: string }>(`SELECT count(*) FROM orders.orders ${filter}`, { userId });
		return { items: (await this.withItems(rows)).map(({ requestHash: _hash, ...order }) => order), total: Number(count) };
	}

	private async recordTransition(orderId: string, from: OrderStatus | null, to: OrderStatus, reason: string, transaction: Transaction) {
		await this.execute(
			`INSERT INTO orders.order_status_history (order_id, from_status, to_status, reason) VALUES (:orderId, :from, :to, :reason)`,
			{ orderId, from, to, reason },
			transaction,
		);
	}

	private async withItems(rows: OrderRow[], transaction?: Transaction): Promise<StoredOrder[]> {
		if (!rows.length) return [];
		const items = await this.rows<ItemRow>(
			`SELECT * FROM orders.order_items WHERE order_id IN (:ids) ORDER BY order_id, position`,
			{ ids: rows.map((r) => r.id) },
			transaction,
		);
		return rows.map((row) => ({
			id: row.id,
			userId: row.user_id,
			status: row.status,
			currency: row.currency,
			totalAmount: Number(row.total_amount),
			requestHash: row.request_hash,
			items: items
				.filter((item) => item.order_id === row.id)
				.map((item) => ({
					productId: item.product_id,
					name: item.name,
					unitPrice: Number(item.unit_price),
					quantity: item.quantity,
					lineTotal: Number(item.line_total),
				})),
			createdAt: new Date(row.created_at).toISOString(),
			updatedAt: new Date(row.updated_at).toISOString(),
		}));
	}
}
