import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

/**
 * A reservation is confirmed once the order service is known to have stored
 * its order. One never confirmed (the order was not recorded, and giving the
 * stock back failed too) is released by the product service's sweep.
 * Reservations made before this migration belong to recorded orders or were
 * released: they count as confirmed.
 */
export const reservationConfirmation = sqlMigration("0002-reservation-confirmation", {
	up: [
		`ALTER TABLE inventory.reservations ADD COLUMN confirmed_at timestamptz`,
		`UPDATE inventory.reservations SET confirmed_at = created_at`,
		`CREATE INDEX reservations_unconfirmed_idx ON inventory.reservations (created_at) WHERE status = 'reserved' AND confirmed_at IS NULL`,
	],
	down: [`ALTER TABLE inventory.reservations DROP COLUMN confirmed_at`],
});
