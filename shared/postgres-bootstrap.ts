import pg from "pg";
import { redactUrl } from "./redact.js";
import { StartupError } from "./startup-error.js";

/**
 * What a node does with its DATABASE_URL before migrating: wait for the
 * server (it may be starting beside the node), create the database if it
 * does not exist yet, and give up with one line naming the URL and the fix
 * when neither works within `waitMs`.
 */
export async function preparePostgres(url: string, waitMs: number): Promise<void> {
	const deadline = Date.now() + waitMs;
	for (;;) {
		try {
			await connectOnce(url);
			return;
		} catch (err) {
			const code = (err as { code?: string }).code;
			if (code === "3D000") return createDatabase(url);
			if (!notAnsweringYet(err))
				throw new StartupError(`PostgreSQL at ${redactUrl(url)} refused the connection (${(err as Error).message}); fix DATABASE_URL`);
			if (Date.now() >= deadline) {
				throw new StartupError(
					`PostgreSQL at ${redactUrl(url)} did not answer within ${Math.round(waitMs / 1000)} s (${(err as Error).message}); start it, or fix DATABASE_URL`,
				);
			}
			await new Promise((resolve) => setTimeout(resolve, 1000));
		}
	}
}

/** Refused, unresolvable, timed out or still starting up: worth waiting for. */
function notAnsweringYet(err: unknown): boolean {
	const { code, message } = err as { code?: string; message?: string };
	return (
		["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EAI_AGAIN", "57P03"].includes(code ?? "") ||
		/timeout|terminated/i.test(message ?? "")
	);
}

async function connectOnce(url: string): Promise<void> {
	const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
	client.on("error", () => undefined);
	try {
		await client.connect();
		await client.query("SELECT 1");
	} finally {
		await client.end().catch(() => undefined);
	}
}

/**
 * Creates the database named by `url`, through the server's `postgres`
 * database. Nodes starting together take an advisory lock first:
 * PostgreSQL refuses two CREATE DATABASE from one template at once.
 */
async function createDatabase(url: string): Promise<void> {
	const target = new URL(url);
	const name = decodeURIComponent(target.pathname.slice(1));
	const maintenance = new URL(url);
	maintenance.pathname = "/postgres";
	const client = new pg.Client({ connectionString: maintenance.toString(), connectionTimeoutMillis: 3000 });
	client.on("error", () => undefined);
	try {
		await client.connect();
		await client.query("SELECT pg_advisory_lock(hashtext('moleculer-shop:create-database'))");
		const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
		if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
	} catch (err) {
		throw new StartupError(
			`The database "${name}" does not exist at ${redactUrl(url)} and could not be created (${(err as Error).message}); create it (createdb ${name}), or give DATABASE_URL a user allowed to create databases`,
		);
	} finally {
		await client.end().catch(() => undefined);
	}
}
