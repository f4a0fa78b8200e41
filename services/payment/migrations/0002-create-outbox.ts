import { outboxMigration } from "../../../shared/mixins/outbox.mixin.js";
import type { Migration } from "../../../shared/mixins/postgres.mixin.js";

/**
 * The outbox table of shared/mixins/outbox.mixin.ts. Its name is "create-outbox",
 * without a number: that is the name databases migrated before it had a file
 * of its own have recorded, and umzug knows a migration by its name.
 */
export const createOutbox: Migration = outboxMigration("payments");
