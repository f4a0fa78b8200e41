import type { Migration } from "../../../shared/mixins/postgres.mixin.js";
import { createStock } from "./0001-create-stock.js";
import { reservationConfirmation } from "./0002-reservation-confirmation.js";

/** The inventory schema's migrations, in the order they run. */
export const migrations: Migration[] = [createStock, reservationConfirmation];
