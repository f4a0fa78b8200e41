import type { Migration } from "../../../shared/mixins/postgres.mixin.js";
import { createOrders } from "./0001-create-orders.js";
import { orderItemPositions } from "./0002-order-item-positions.js";
import { createOutbox } from "./0003-create-outbox.js";

/**
 * The orders schema's migrations, in the order they run. The outbox came
 * second before it had a file of its own; it depends on nothing here, and
 * databases that have all three are not migrated again (umzug goes by name).
 */
export const migrations: Migration[] = [createOrders, orderItemPositions, createOutbox];
