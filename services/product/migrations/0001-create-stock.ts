import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

// `available >= 0` is the invariant the whole checkout rests on: whatever the
// concurrency, the database refuses to sell a unit it does not have.
export const createStock = sqlMigration("0001-create-stock", {
	up: [
		`CREATE TABLE inventory.stock_levels (
			product_id text PRIMARY KEY,
			available integer NOT NULL CONSTRAINT stock_never_negative CHECK (available >= 0),
			updated_at timestamptz NOT NULL DEFAULT now()
		)`,
		`CREATE TABLE inventory.reservations (
			order_id uuid NOT NULL,
			product_id text NOT NULL REFERENCES inventory.stock_levels (product_id),
			quantity integer NOT NULL CHECK (quantity > 0),
			status text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'released')),
			created_at timestamptz NOT NULL DEFAULT now(),
			released_at timestamptz,
			PRIMARY KEY (order_id, product_id)
		)`,
		`CREATE INDEX reservations_product_idx ON inventory.reservations (product_id)`,
	],
	down: [`DROP TABLE inventory.reservations`, `DROP TABLE inventory.stock_levels`],
});
