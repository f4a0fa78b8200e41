import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

export const createPayments = sqlMigration("0001-create-payments", {
	up: [
		`CREATE TABLE payments.payments (
			id uuid PRIMARY KEY,
			order_id uuid NOT NULL,
			user_id uuid NOT NULL,
			amount bigint NOT NULL CHECK (amount >= 0),
			currency char(3) NOT NULL,
			provider text NOT NULL,
			status text NOT NULL CHECK (status IN ('processing', 'succeeded', 'failed', 'pending')),
			failure_code text,
			provider_reference text,
			created_at timestamptz NOT NULL DEFAULT now(),
			updated_at timestamptz NOT NULL DEFAULT now()
		)`,
		// One payment per order: a redelivered "order created" finds it and charges nobody twice.
		`CREATE UNIQUE INDEX payments_order_unique ON payments.payments (order_id)`,
		`CREATE INDEX payments_user_idx ON payments.payments (user_id)`,
	],
	down: [`DROP TABLE payments.payments`],
});
