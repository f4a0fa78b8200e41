import type { ServiceSchema } from "moleculer";
import { ConnectionError as SequelizeConnectionError } from "sequelize";
import { DependencyUnavailableError } from "./errors.js";

/**
 * Which server an error says could not be reached (refused, timed out,
 * connection lost, shutting down), or null when the error means something
 * else. The first is an outage, answered 503 while it lasts; the second stays
 * what it is.
 */
export function unreachableDependency(err: unknown): "PostgreSQL" | "MongoDB" | "Redis" | null {
	if (!(err instanceof Error)) return null;
	if (err instanceof SequelizeConnectionError) return "PostgreSQL";
	if (err.name.startsWith("Sequelize")) {
		// A query on a connection that died: sequelize wraps pg's error.
		const cause = (err as { parent?: Error & { code?: string } }).parent;
		if (cause && ((typeof cause.code === "string" && /^(08|57P0[1-3]|53300)/.test(cause.code)) || /Connection terminated|ECONNRESET/.test(cause.message))) {
			return "PostgreSQL";
		}
		return null;
	}
	if (/^Mongo(ose)?(ServerSelection|Network|NetworkTimeout|NotConnected|TopologyClosed)Error$/.test(err.name)) return "MongoDB";
	// ioredis gave up on a command while disconnected, or was disconnected on purpose.
	if (err.name === "MaxRetriesPerRequestError" || err.message === "Connection is closed.") return "Redis";
	return null;
}

/** `err` itself, or a DependencyUnavailableError when it means an outage. */
export function asDependencyError(err: unknown): unknown {
	const dependency = unreachableDependency(err);
	return dependency ? new DependencyUnavailableError(dependency, err) : err;
}

/**
 * Mixed in by every mixin that opens a connection: an action failing because
 * the server is unreachable fails with DependencyUnavailableError (503), not
 * with the driver's error (500). Mixed in twice, the second hook sees the
 * converted error and leaves it alone.
 */
export const DependencyErrorsMixin: Partial<ServiceSchema> = {
	hooks: {
		error: {
			"*"(_ctx: unknown, err: unknown) {
				throw asDependencyError(err);
			},
		},
	},
};
