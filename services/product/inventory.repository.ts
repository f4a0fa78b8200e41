import type { Transaction } from "sequelize";
import type { StockChange, StockLine } from "../../shared/contracts.js";
import { OutOfStockError, type StockShortage } from "../../shared/errors.js";
import { SqlRepository } from "../../shared/sql-repository.js";

/**
 * Stock levels and reservations in PostgreSQL (schema `inventory`). A
 * reservation or release runs in one transaction of its own (reserve and
 * release open it: all lines or none); its row locks, taken in product-id
 * order, keep concurrent orders for overlapping products from deadlocking.
 * `create` and `availability` take the caller's transaction, if any.
 */
export class InventoryRepository extends SqlRepository {
	async create(productId: string, available: number, transaction?: Transaction): Promise<void> {
		await this.execute(`INSERT INTO inventory.stock_levels (product_id, available) VALUES (:productId, :available)`, { productId, available }, transaction);
	}

	async availability(productIds: string[], transaction?: Transaction): Promise<Map<string, number>> {
		if (!productIds.length) return new Map();
		const rows = await this.rows<{ product_id: string; available: number }>(
			`SELECT product_id, available FROM inventory.stock_levels WHERE product_id IN (:productIds)`,
			{ productIds },
			transaction,
		);
		return new Map(rows.map((row) => [row.product_id, row.available]));
	}

	/**
	 * Reserves every line for the order, all or none. Reserving again for the
	 * same order changes nothing and returns the current levels.
	 */
	async reserve(orderId: string, lines: StockLine[]): Promise<StockChange[]> {
		const sorted = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
		return this.sequelize.transaction(async (transaction) => {
			const existing = await this.rows<{ product_id: string }>(
				`SELECT product_id FROM inventory.reservations WHERE order_id = :orderId`,
				{ orderId },
				transaction,
			);
			if (existing.length) {
				const levels = await this.availability(
					sorted.map((l) => l.productId),
					transaction,
				);
				return sorted.map((l) => ({ productId: l.productId, available: levels.get(l.productId) ?? 0, crossedZero: false }));
			}

			const changes: StockChange[] = [];
			const shortages: StockShortage[] = [];
			for (const line of sorted) {
				const updated = await this.row<{ available: number }>(
					`UPDATE inventory.stock_levels
					    SET available = available - :quantity, updated_at = now()
					  WHERE product_id = :productId AND available >= :quantity
					RETURNING available`,
					{ ...line },
					transaction,
				);
				if (updated) {
					changes.push({ productId: line.productId, available: updated.available, crossedZero: updated.available === 0 });
				} else {
					const levels = await this.availability([line.productId], transaction);
					shortages.push({ productId: line.productId, requested: line.quantity, available: levels.get(line.productId) ?? 0 });
				}
			}
			// Throwing rolls back the lines that did fit.
			if (shortages.length) throw new OutOfStockError(shortages);

			for (const line of sorted) {
				await this.execute(
					`INSERT INTO inventory.reservations (order_id, product_id, quantity) VALUES (:orderId, :productId, :quantity)`,
					{ orderId, ...line },
					transaction,
				);
			}
			return changes;
		});
	}

	/** Orders whose reservation is older than `olderThanSeconds` and not yet confirmed, oldest first. */
	async unconfirmedOrders(olderThanSeconds: number, limit: number): Promise<string[]> {
		const rows = await this.rows<{ order_id: string }>(
			`SELECT order_id FROM inventory.reservations
			  WHERE status = 'reserved' AND confirmed_at IS NULL AND created_at < now() - make_interval(secs => :olderThanSeconds)
			  GROUP BY order_id ORDER BY min(created_at) LIMIT :limit`,
			{ olderThanSeconds, limit },
		);
		return rows.map((row) => row.order_id);
	}

	/** Marks the orders' reservations as belonging to recorded orders: the sweep leaves them alone. */
	async confirm(orderIds: string[]): Promise<void> {
		if (!orderIds.length) return;
		await this.execute(`UPDATE inventory.reservations SET confirmed_at = now() WHERE order_id IN (:orderIds) AND confirmed_at IS NULL`, { orderIds });
	}

	/** Gives back what the order reserved; releasing twice changes nothing. */
	async release(orderId: string): Promise<StockChange[]> {
		return this.sequelize.transaction(async (transaction) => {
			const released = await this.rows<{ product_id: string; quantity: number }>(
				`UPDATE inventory.reservations SET status = 'released', released_at = now()
				  WHERE order_id = :orderId AND status = 'reserved'
				RETURNING product_id, quantity`,
				{ orderId },
				transaction,
			);
			released.sort((a, b) => a.product_id.localeCompare(b.product_id));
			const changes: StockChange[] = [];
			for (const row of released) {
				const [updated] = await this.rows<{ available: number }>(
					`UPDATE inventory.stock_levels SET available = available + :quantity, updated_at = now()
					  WHERE product_id = :productId RETURNING available`,
					{ productId: row.product_id, quantity: row.quantity },
					transaction,
				);
				changes.push({ productId: row.product_id, available: updated.available, crossedZero: updated.available === row.quantity });
			}
			return changes;
		});
	}
}
