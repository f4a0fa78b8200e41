import type { Migration } from "../../../shared/mixins/postgres.mixin.js";
import { createAccessLogs } from "./0001-create-access-logs.js";

/** The logs schema's migrations, in the order they run. */
export const migrations: Migration[] = [createAccessLogs];
