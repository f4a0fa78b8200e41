/**
 * Benchmark: GET /api/products/:id through the gateway.
 *
 *   npm run bench                     # 10 s per scenario
 *   BENCH_DURATION=3 npm run bench    # shorter runs
 *
 * Needs the real PostgreSQL, Redis and RabbitMQ (docs/decisions.md, 11);
 * starts its own jongodb. It prints figures and asserts nothing.
 *
 * Scenarios, each loaded by autocannon with 64 connections:
 *   1. bare     a Node `http` server returning the same product JSON: the ceiling;
 *   2. in-process  api + product + auth + logs in this process, no transporter,
 *               Redis cacher (test/support/test-broker.ts);
 *   3. cluster  gateway | product | auth, logs, order, payment, websocket as
 *               three OS processes over RabbitMQ (test/support/cluster.ts).
 * Every figure is also given as a ratio to the bare server measured in the
 * same run: ratios, not absolute numbers, compare across machines.
 *
 * How it measures:
 *   - autocannon runs in a worker thread (`workers: 1`), so that the load
 *     generator does not share an event loop with the in-process servers;
 *   - each scenario gets an unreported warm-up run first (JIT, connection
 *     pools, the product's cache entry);
 *   - the in-process system is measured and stopped before the bare server
 *     runs, so the baseline shares its process with nothing; the table lists
 *     the bare server first;
 *   - requests/s = responses completed / duration; latencies are autocannon's
 *     p50 and p99 of 2xx responses, in whole milliseconds (its resolution);
 *     "errors" are connection errors and timeouts.
 * Everything it starts (brokers, processes, databases, jongodb) is stopped or
 * dropped at the end, also on failure and on Ctrl-C.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import os from "node:os";
import autocannon from "autocannon";
import type { ServiceBroker } from "moleculer";
import ApiService from "../services/api.service.js";
import AuthService from "../services/auth/auth.service.js";
import LogsService from "../services/logs/logs.service.js";
import ProductService from "../services/product/product.service.js";
import { ProductActions, type Product } from "../shared/contracts.js";
import { startJongodb } from "../shared/embedded/jongodb.js";
import { Cluster, freePort } from "../test/support/cluster.js";
import { MONGO_BASE_ENV } from "../test/support/servers.js";
import { createTestEnvironment, startBroker, testUsers, tokenFor, type TestEnvironment } from "../test/support/test-broker.js";
import { benchDurationSeconds } from "./duration.js";

const CONNECTIONS = 64;
const WARMUP_SECONDS = 1;
const DURATION_SECONDS = benchDurationSeconds(10);

/** About 1 KB of JSON once served, like the body of the measurements in docs/decisions.md. */
const SAMPLE_PRODUCT = {
	name: "Benchmark espresso grinder",
	description: "Conical burr grinder with 40 settings, for espresso and filter. ".repeat(11).trim(),
	category: "equipment",
	price: 18_900,
	currency: "EUR",
	stock: 1000,
};

interface Figures {
	scenario: string;
	requestsPerSecond: number;
	p50Ms: number;
	p99Ms: number;
	errors: number;
	non2xx: number;
}

// ---------------------------------------------------------------- cleanup

/** Steps undone in reverse order; each runs once, whether called early or at the end. */
class Cleanup {
	private readonly steps: { name: string; run: () => Promise<unknown> }[] = [];

	/** Registers a step; the returned function runs it now (and removes it). */
	add(name: string, run: () => Promise<unknown>): () => Promise<void> {
		const step = { name, run };
		this.steps.push(step);
		return async () => {
			const index = this.steps.indexOf(step);
			if (index === -1) return;
			this.steps.splice(index, 1);
			await step.run();
		};
	}

	async runAll(): Promise<void> {
		while (this.steps.length) {
			const step = this.steps.pop()!;
			try {
				await step.run();
			} catch (err) {
				console.error(`Cleanup "${step.name}" failed: ${(err as Error).message}`);
			}
		}
	}
}

// ---------------------------------------------------------------- load

function load(url: string, seconds: number): Promise<autocannon.Result> {
	return autocannon({ url, connections: CONNECTIONS, duration: seconds, workers: 1 });
}

async function measure(scenario: string, url: string): Promise<Figures> {
	console.log(`${scenario}: warming up ${WARMUP_SECONDS} s, then measuring ${DURATION_SECONDS} s ...`);
	await load(url, WARMUP_SECONDS);
	const result = await load(url, DURATION_SECONDS);
	return {
		scenario,
		requestsPerSecond: result.requests.total / result.duration,
		p50Ms: result.latency.p50,
		p99Ms: result.latency.p99,
		errors: result.errors,
		non2xx: result.non2xx,
	};
}

async function fetchBody(url: string): Promise<string> {
	const response = await fetch(url);
	const body = await response.text();
	if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${body}`);
	return body;
}

/** The bodies differ in id and timestamps only; a different size would make the comparison unfair. */
function checkSameSize(scenario: string, body: string, reference: string): void {
	if (body.length !== reference.length) {
		console.warn(`Warning: ${scenario} serves ${body.length} bytes, the bare server ${reference.length}: ratios are less comparable.`);
	}
}

// ---------------------------------------------------------------- scenarios

/** Scenario 1: the ceiling, a bare Node server serializing the same product per request. */
async function measureBare(product: unknown): Promise<Figures> {
	const server = createServer((_req, res) => {
		const body = JSON.stringify(product);
		res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
		res.end(body);
	});
	server.listen(0, "127.0.0.1");
	await once(server, "listening");
	const { port } = server.address() as { port: number };
	try {
		return await measure("bare node http", `http://127.0.0.1:${port}/`);
	} finally {
		server.closeAllConnections();
		await new Promise((resolve) => server.close(resolve));
	}
}

/**
 * Moleculer stops the broker and exits on SIGINT/SIGTERM, which would cut our
 * cleanup short (databases left behind); the bench handles those signals itself.
 */
function leaveSignalsToBench(broker: ServiceBroker): void {
	const closeFn = (broker as unknown as { _closeFn?: () => void })._closeFn;
	if (!closeFn) return;
	process.removeListener("SIGINT", closeFn);
	process.removeListener("SIGTERM", closeFn);
}

async function newEnvironment(cleanup: Cleanup, label: string): Promise<TestEnvironment> {
	const env = await createTestEnvironment();
	cleanup.add(`drop the ${label} database`, () => env.drop());
	return env;
}

/** Scenario 2: the whole system in this process; returns its figures and the product JSON it served. */
async function measureInProcess(cleanup: Cleanup): Promise<{ figures: Figures; body: string }> {
	const env = await newEnvironment(cleanup, "in-process");
	const port = await freePort();
	const broker = await startBroker(env, [ApiService, ProductService, AuthService, LogsService], { port });
	leaveSignalsToBench(broker);
	const stopBroker = cleanup.add("stop the in-process broker", () => broker.stop());

	const product = await broker.call<Product, typeof SAMPLE_PRODUCT>(ProductActions.create.name, SAMPLE_PRODUCT, { meta: { user: testUsers.admin } });
	const url = `http://127.0.0.1:${port}/api/products/${product.id}`;
	const body = await fetchBody(url);
	const figures = await measure("one process (Redis cacher)", url);
	await stopBroker();
	return { figures, body };
}

async function startCluster(cluster: Cluster): Promise<void> {
	cluster.start("gateway", "api");
	cluster.start("product", "product");
	// The gateway is ready only when every routed service (order and payment too) has a node.
	cluster.start("rest", "auth,logs,order,payment,websocket");
	await cluster.waitUntilReady();
}

/** Seeds the product the way a client would: POST /api/products with an admin token, signed with the cluster's secret. */
async function createProductOverHttp(cluster: Cluster): Promise<Product> {
	const response = await fetch(`${cluster.apiUrl}/products`, {
		method: "POST",
		headers: { "Content-Type": "application/json", Authorization: `Bearer ${await tokenFor(cluster, testUsers.admin)}` },
		body: JSON.stringify(SAMPLE_PRODUCT),
	});
	const text = await response.text();
	if (response.status !== 201) throw new Error(`POST /api/products answered ${response.status}: ${text}`);
	return JSON.parse(text) as Product;
}

/** Scenario 3: gateway, product and the rest as separate OS processes over RabbitMQ. */
async function measureCluster(cleanup: Cleanup, reference: string): Promise<Figures> {
	const env = await newEnvironment(cleanup, "cluster");
	const cluster = await Cluster.create(env);
	cleanup.add("stop the cluster", () => cluster.stopAll());
	console.log("cluster: starting 3 processes ...");
	await startCluster(cluster);

	const product = await createProductOverHttp(cluster);
	const url = `${cluster.apiUrl}/products/${product.id}`;
	checkSameSize("the cluster", await fetchBody(url), reference);
	return measure("3 processes over RabbitMQ", url);
}

// ---------------------------------------------------------------- report

function formatRow(cells: string[], widths: number[]): string {
	return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
}

function printTable(rows: Figures[], bodyBytes: number): void {
	const baseline = rows[0].requestsPerSecond;
	const header = ["scenario", "requests/s", "p50 ms", "p99 ms", "errors", "non-2xx", "vs bare"];
	const cells = rows.map((r) => [
		r.scenario,
		Math.round(r.requestsPerSecond).toLocaleString("en-US"),
		String(r.p50Ms),
		String(r.p99Ms),
		String(r.errors),
		String(r.non2xx),
		(r.requestsPerSecond / baseline).toFixed(2),
	]);
	const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
	const cpus = os.cpus();
	console.log(`\nGET /api/products/:id, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per scenario, ${bodyBytes}-byte JSON body`);
	console.log(formatRow(header, widths));
	console.log(widths.map((w) => "-".repeat(w)).join("  "));
	for (const row of cells) console.log(formatRow(row, widths));
	console.log(`\nMachine: ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? "unknown"}), Node ${process.version}, ${os.platform()} ${os.arch()}`);
	console.log("Note: compare the ratios (vs bare), not the absolute numbers, across machines.");
}

// ---------------------------------------------------------------- main

async function run(cleanup: Cleanup): Promise<void> {
	const mongo = await startJongodb();
	cleanup.add("stop jongodb", () => mongo.stop());
	process.env[MONGO_BASE_ENV] = mongo.url;

	const inProcess = await measureInProcess(cleanup);
	const bare = await measureBare(JSON.parse(inProcess.body));
	const cluster = await measureCluster(cleanup, inProcess.body);
	printTable([bare, inProcess.figures, cluster], Buffer.byteLength(inProcess.body));
}

async function main(): Promise<void> {
	const cleanup = new Cleanup();
	const interrupted = async (signal: NodeJS.Signals) => {
		console.error(`\n${signal}: cleaning up ...`);
		await cleanup.runAll();
		process.exit(130);
	};
	process.once("SIGINT", interrupted);
	process.once("SIGTERM", interrupted);
	try {
		await run(cleanup);
	} catch (err) {
		console.error("Benchmark failed:", err);
		process.exitCode = 1;
	} finally {
		await cleanup.runAll();
		process.removeListener("SIGINT", interrupted);
		process.removeListener("SIGTERM", interrupted);
	}
}

await main();
