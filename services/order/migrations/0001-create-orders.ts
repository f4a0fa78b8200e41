import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

export const createOrders = sqlMigration("0001-create-orders", {
	up: [
		`CREATE TABLE orders.orders (
			id uuid PRIMARY KEY,
			user_id uuid NOT NULL,
			status text NOT NULL CHECK (status IN ('pending_payment', 'paid', 'payment_failed', 'cancelled')),
			currency char(3) NOT NULL,
			total_amount bigint NOT NULL CHECK (total_amount >= 0),
			payment_provider text NOT NULL,
			idempotency_key text,
			request_hash text NOT NULL,
			created_at timestamptz NOT NULL DEFAULT now(),
			updated_at timestamptz NOT NULL DEFAULT now()
		)`,
		`CREATE UNIQUE INDEX orders_idempotency_unique ON orders.orders (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL`,
		`CREATE INDEX orders_user_created_idx ON orders.orders (user_id, created_at DESC)`,
		`CREATE TABLE orders.order_items (
			order_id uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
			product_id text NOT NULL,
			name text NOT NULL,
			unit_price bigint NOT NULL CHECK (unit_price >= 0),
			quantity integer NOT NULL CHECK (quantity > 0),
			line_total bigint NOT NULL CHECK (line_total >= 0),
			PRIMARY KEY (order_id, product_id)
		)`,
		`CREATE TABLE orders.order_status_history (
			id bigserial PRIMARY KEY,
			order_id uuid NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
			from_status text,
			to_status text NOT NULL,
			reason text,
			created_at timestamptz NOT NULL DEFAULT now()
		)`,
		`CREATE INDEX order_status_history_order_idx ON orders.order_status_history (order_id)`,
	],
	down: [`DROP TABLE orders.order_status_history`, `DROP TABLE orders.order_items`, `DROP TABLE orders.orders`],
});
