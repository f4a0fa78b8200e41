import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "../../shared/embedded/free-port.js";

/**
 * A RabbitMQ or Redis server of one test file's own, on free ports of
 * 127.0.0.1, for the tests that take a dependency down: the shared servers
 * (test/support/servers.ts) serve every test file at once, so stopping one of
 * them would break the others. Everything (data, logs, pid files) lives in a
 * fresh temporary directory that stop() deletes.
 *
 * Needs rabbitmq-server / rabbitmqctl and redis-server on PATH. Run as root,
 * the Debian wrappers of RabbitMQ switch to the `rabbitmq` user, so the
 * directory is handed to that user.
 */
export interface PrivateServer {
	/** The URL clients connect to (amqp://guest:guest@127.0.0.1:PORT, redis://127.0.0.1:PORT). */
	url: string;
	port: number;
	/** Takes the server away (clients get "connection refused") and brings it back on the same port. */
	outage: {
		begin(): Promise<void>;
		end(): Promise<void>;
	};
	/** Stops the server for good and deletes its directory; safe to call twice. */
	stop(): Promise<void>;
}

export interface PrivateRabbit extends PrivateServer {
	/** The Erlang node name, for rabbitmqctl -n. */
	nodeName: string;
	/** Runs `rabbitmqctl -n <node> ...args` and returns its stdout. */
	ctl(...args: string[]): Promise<string>;
}

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Pids to kill -9 if the test process exits without having stopped its servers (a crash, a jest timeout). */
const leftovers = new Map<string, () => number | undefined>();
let exitHookInstalled = false;
function killLeftoversOnExit(key: string, pid: () => number | undefined): void {
	leftovers.set(key, pid);
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	process.once("exit", () => {
		for (const read of leftovers.values()) {
			const found = read();
			if (found) {
				try {
					process.kill(found, "SIGKILL");
				} catch {
					// already gone
				}
			}
		}
	});
}

function readPid(file: string): number | undefined {
	try {
		const pid = Number(readFileSync(file, "utf8").trim());
		return Number.isInteger(pid) && pid > 0 ? pid : undefined;
	} catch {
		return undefined;
	}
}

function isRunning(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (!isRunning(pid)) return true;
		await sleep(50);
	}
	return !isRunning(pid);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		const open = await new Promise<boolean>((resolve) => {
			const socket = connect({ host: "127.0.0.1", port });
			socket.once("connect", () => {
				socket.destroy();
				resolve(true);
			});
			socket.once("error", () => resolve(false));
		});
		if (open) return;
		await sleep(100);
	}
	throw new Error(`${what} does not accept connections on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Sends one inline command to a Redis server and returns its first reply line. */
function redisCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = connect({ host: "127.0.0.1", port });
		let reply = "";
		const timer = setTimeout(() => {
			socket.destroy();
			reject(new Error(`no answer to ${command}`));
		}, timeoutMs);
		socket.once("connect", () => socket.write(`${command}\r\n`));
		socket.on("data", (chunk) => {
			reply += chunk.toString();
			if (reply.includes("\r\n")) {
				clearTimeout(timer);
				socket.destroy();
				resolve(reply.split("\r\n")[0]);
			}
		});
		socket.once("error", (err) => {
			clearTimeout(timer);
			reject(err);
		});
	});
}

/**
 * A RabbitMQ node of its own (unique node name, free AMQP and distribution
 * ports, no plugins, guest/guest on loopback). Its outage is
 * `rabbitmqctl stop_app` / `start_app`: the Erlang node stays up, the AMQP
 * listener closes, every connection is dropped; durable (quorum) queues and
 * their messages come back with it.
 */
export async function startPrivateRabbit(): Promise<PrivateRabbit> {
	const id = randomBytes(4).toString("hex");
	const nodeName = `faults-${id}@localhost`;
	const port = await freePort();
	let distPort = await freePort();
	while (distPort === port) distPort = await freePort();
	const dir = mkdtempSync(join(tmpdir(), `rabbit-${id}-`));
	const pidFile = join(dir, "rabbit.pid");
	writeFileSync(join(dir, "enabled_plugins"), "[].\n");
	writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users.guest = true\n`);
	// An env file of its own, so the machine's (node name, port) does not apply.
	writeFileSync(join(dir, "rabbitmq-env.conf"), "ERL_EPMD_ADDRESS=127.0.0.1\n");
	// The Debian wrappers run the server as the rabbitmq user when started by root.
	if (process.getuid?.() === 0) await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
	killLeftoversOnExit(dir, () => readPid(pidFile));

	const env = {
		PATH: process.env.PATH,
		HOME: process.env.HOME,
		RABBITMQ_NODENAME: nodeName,
		RABBITMQ_NODE_PORT: String(port),
		RABBITMQ_DIST_PORT: String(distPort),
		RABBITMQ_PID_FILE: pidFile,
		RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
		RABBITMQ_LOG_BASE: join(dir, "log"),
		RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
		RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
		RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
	};
	const ctl = async (...args: string[]): Promise<string> => {
		try {
			const { stdout } = await run("rabbitmqctl", ["-n", nodeName, ...args], { env, cwd: dir, timeout: 90_000 });
			return stdout;
		} catch (err) {
			const e = err as Error & { stdout?: string; stderr?: string };
			throw new Error(`rabbitmqctl -n ${nodeName} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
		}
	};

	let stopped = false;
	const stop = async () => {
		if (stopped) return;
		stopped = true;
		const pid = readPid(pidFile);
		await ctl("stop").catch(() => undefined);
		if (pid && !(await waitUntilGone(pid, 15_000))) {
			try {
				process.kill(pid, "SIGKILL");
			} catch {
				// gone meanwhile
			}
			await waitUntilGone(pid, 5000);
		}
		leftovers.delete(dir);
		rmSync(dir, { recursive: true, force: true });
	};

	try {
		await new Promise<void>((resolve, reject) => {
			const child = spawn("rabbitmq-server", ["-detached"], { env, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
			let output = "";
			child.stdout!.on("data", (chunk) => (output += chunk));
			child.stderr!.on("data", (chunk) => (output += chunk));
			child.once("error", reject);
			child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`rabbitmq-server -detached exited with ${code}: ${output}`))));
		});
		// `wait` follows the pid file, then the node, then the rabbit application.
		await ctl("wait", pidFile, "--timeout", "60");
		await waitForPort(port, 30_000, `RabbitMQ ${nodeName}`);
	} catch (err) {
		await stop();
		throw err;
	}

	return {
		url: `amqp://guest:guest@127.0.0.1:${port}`,
		port,
		nodeName,
		ctl,
		stop,
		outage: {
			async begin() {
				await ctl("stop_app");
			},
			async end() {
				await ctl("start_app");
				await ctl("await_startup", "--timeout", "60");
				await waitForPort(port, 30_000, `RabbitMQ ${nodeName}`);
			},
		},
	};
}

/**
 * A Redis server of its own on a free port, keeping nothing on disk. Its
 * outage stops the process (SIGTERM, by its pid file) and starts a new one on
 * the same port, empty: Redis is this shop's cache and log buffer.
 */
export async function startPrivateRedis(): Promise<PrivateServer> {
	const id = randomBytes(4).toString("hex");
	const port = await freePort();
	const dir = mkdtempSync(join(tmpdir(), `redis-${id}-`));
	const pidFile = join(dir, "redis.pid");
	killLeftoversOnExit(dir, () => readPid(pidFile));

	const launch = async () => {
		await run(
			"redis-server",
			[
				"--port",
				String(port),
				"--bind",
				"127.0.0.1",
				"--save",
				"",
				"--appendonly",
				"no",
				"--daemonize",
				"yes",
				"--pidfile",
				pidFile,
				"--dir",
				dir,
				"--logfile",
				join(dir, "redis.log"),
			],
			{ timeout: 30_000 },
		);
		const deadline = Date.now() + 20_000;
		for (;;) {
			const reply = await redisCommand(port, "PING").catch((err: Error) => err.message);
			if (reply === "+PONG") return;
			if (Date.now() > deadline) throw new Error(`redis-server on 127.0.0.1:${port} does not answer PING: ${reply}`);
			await sleep(50);
		}
	};
	const kill = async () => {
		const pid = readPid(pidFile);
		if (!pid) return;
		try {
			process.kill(pid, "SIGTERM");
		} catch {
			return;
		}
		if (!(await waitUntilGone(pid, 10_000))) {
			process.kill(pid, "SIGKILL");
			await waitUntilGone(pid, 5000);
		}
	};

	let stopped = false;
	const stop = async () => {
		if (stopped) return;
		stopped = true;
		await kill();
		leftovers.delete(dir);
		rmSync(dir, { recursive: true, force: true });
	};

	try {
		await launch();
	} catch (err) {
		await stop();
		throw err;
	}

	return {
		url: `redis://127.0.0.1:${port}`,
		port,
		stop,
		outage: { begin: kill, end: launch },
	};
}
