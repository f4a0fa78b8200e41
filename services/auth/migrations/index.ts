import type { Migration } from "../../../shared/mixins/postgres.mixin.js";
import { createUsers } from "./0001-create-users.js";
import { sessionFamilies } from "./0002-session-families.js";

/** The auth schema's migrations, in the order they run. */
export const migrations: Migration[] = [createUsers, sessionFamilies];
