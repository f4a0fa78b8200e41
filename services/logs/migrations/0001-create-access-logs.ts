import { sqlMigration } from "../../../shared/mixins/postgres.mixin.js";

export const createAccessLogs = sqlMigration("0001-create-access-logs", {
	up: [
		`CREATE TABLE logs.access_logs (
			id bigserial PRIMARY KEY,
			-- The buffer's id for the entry: a batch flushed twice (crash before
			-- the buffer heard of the commit) is stored once.
			entry_id text NOT NULL UNIQUE,
			request_id text NOT NULL,
			method text NOT NULL,
			path text NOT NULL,
			status smallint NOT NULL,
			duration_ms integer NOT NULL,
			user_id uuid,
			ip text,
			at timestamptz NOT NULL
		)`,
		`CREATE INDEX access_logs_at_idx ON logs.access_logs (at DESC)`,
		`CREATE INDEX access_logs_request_idx ON logs.access_logs (request_id)`,
		`CREATE INDEX access_logs_user_idx ON logs.access_logs (user_id, at DESC)`,
	],
	down: [`DROP TABLE logs.access_logs`],
});
