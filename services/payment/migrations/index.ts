import type { Migration } from "../../../shared/mixins/postgres.mixin.js";
import { createPayments } from "./0001-create-payments.js";
import { createOutbox } from "./0002-create-outbox.js";

/** The payments schema's migrations, in the order they run. */
export const migrations: Migration[] = [createPayments, createOutbox];
