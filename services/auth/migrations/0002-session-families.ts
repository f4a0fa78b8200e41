import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

/**
 * Refresh tokens in families: every token made by rotating another belongs to
 * the first one's family, and remembers which token replaced it, so that a
 * replaced token presented again (stolen, or replayed) revokes the family.
 * A session from before is a family of its own.
 */
export const sessionFamilies = sqlMigration("0002-session-families", {
	up: [
		`ALTER TABLE auth.sessions ADD COLUMN family_id uuid, ADD COLUMN replaced_by uuid`,
		`UPDATE auth.sessions SET family_id = id`,
		`ALTER TABLE auth.sessions ALTER COLUMN family_id SET NOT NULL`,
		`CREATE INDEX sessions_family_idx ON auth.sessions (family_id)`,
	],
	down: [`DROP INDEX auth.sessions_family_idx`, `ALTER TABLE auth.sessions DROP COLUMN replaced_by, DROP COLUMN family_id`],
});
