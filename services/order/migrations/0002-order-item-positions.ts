import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

/**
 * Each line keeps its place in the order as the shopper sent it. Lines
 * stored before this migration get the order they were answered in until
 * now, by product id.
 */
export const orderItemPositions = sqlMigration("0002-order-item-positions", {
	up: [
		`ALTER TABLE orders.order_items ADD COLUMN position integer`,
		`UPDATE orders.order_items AS item SET position = numbered.position
		   FROM (SELECT order_id, product_id, row_number() OVER (PARTITION BY order_id ORDER BY product_id) - 1 AS position FROM orders.order_items) AS numbered
		  WHERE item.order_id = numbered.order_id AND item.product_id = numbered.product_id`,
		`ALTER TABLE orders.order_items ALTER COLUMN position SET NOT NULL, ADD CONSTRAINT order_items_position_unique UNIQUE (order_id, position), ADD CHECK (position >= 0)`,
	],
	down: [`ALTER TABLE orders.order_items DROP COLUMN position`],
});
