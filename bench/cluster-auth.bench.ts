/**
 * Benchmark: what sealing the transporter's packets costs
 * (shared/middlewares/cluster-auth.middleware.ts).
 *
 *   npm run bench:cluster-auth                   # 5 s per run
 *   BENCH_DURATION=10 npm run bench:cluster-auth
 *
 * Needs the real RabbitMQ (test/support/servers.ts). It prints figures and
 * asserts nothing.
 *
 * Two nodes over RabbitMQ with the transporter options of moleculer.config.ts:
 * the service's node in a child process, the caller in this one, keeping 64
 * calls in flight to a small action (about 100 bytes each way) for the
 * duration, after an unreported one-second warm-up. Without and with
 * ClusterAuthMiddleware, twice each, alternating, each pair of nodes in a
 * namespace of its own. Then sealing and opening one such packet in a loop,
 * without RabbitMQ, for the cost of the cryptography alone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import { clusterKeyring } from "../shared/cluster-secret.js";
import { ClusterAuthMiddleware, TransitSealer } from "../shared/middlewares/cluster-auth.middleware.js";
import { testServers } from "../test/support/servers.js";
import { deleteTransporterTopology } from "../test/support/transporter-topology.js";
import { benchDurationSeconds } from "./duration.js";

const IN_FLIGHT = 64;
const WARMUP_MS = 1000;
const DURATION_MS = benchDurationSeconds(5) * 1000;
// The service's node is a child process: it gets the caller's secret.
const SECRET = process.env.BENCH_SECRET ?? randomBytes(32).toString("base64url");
const PARAMS = { sku: "espresso-grinder-40", quantity: 2, note: "x".repeat(40) };

function brokerOptions(namespace: string, nodeID: string, sealed: boolean): BrokerOptions {
	return {
		namespace,
		nodeID,
		logger: false,
		transporter: { type: "AMQP", options: { url: testServers.amqpUrl, prefetch: 100, socketOptions: { noDelay: true } } },
		middlewares: sealed ? [ClusterAuthMiddleware({ secret: SECRET })] : [],
	};
}

/** The service's node, run as `tsx bench/cluster-auth.bench.ts serve <namespace> <sealed>`: it says "ready" once started, and stops on SIGTERM. */
async function serve(namespace: string, sealed: boolean): Promise<void> {
	const broker = new ServiceBroker(brokerOptions(namespace, "service", sealed));
	broker.createService({ name: "bench", actions: { echo: (ctx: Context<typeof PARAMS>) => ({ ...ctx.params, at: Date.now() }) } });
	await broker.start();
	process.stdout.write("ready\n");
	await once(process, "SIGTERM");
	await broker.stop();
}

async function startService(namespace: string, sealed: boolean): Promise<ChildProcess> {
	const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "serve", namespace, String(sealed)], {
		stdio: ["ignore", "pipe", "inherit"],
		env: { ...process.env, BENCH_SECRET: SECRET },
	});
	const [chunk] = (await once(child.stdout!, "data")) as [Buffer];
	if (chunk.toString().trim() !== "ready") throw new Error(`the service's node said: ${chunk.toString()}`);
	return child;
}

/** Calls `bench.echo` with IN_FLIGHT calls always pending, for `ms`; the number of answers. */
async function load(caller: ServiceBroker, ms: number): Promise<number> {
	const until = Date.now() + ms;
	let answered = 0;
	const worker = async () => {
		while (Date.now() < until) {
			await caller.call("bench.echo", PARAMS);
			answered++;
		}
	};
	await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
	return answered;
}

async function run(sealed: boolean): Promise<number> {
	const namespace = `bench-trust-${randomBytes(4).toString("hex")}`;
	const service = await startService(namespace, sealed);
	const caller = new ServiceBroker(brokerOptions(namespace, "caller", sealed));
	try {
		await caller.start();
		await caller.waitForServices("bench", 10_000);
		await load(caller, WARMUP_MS);
		return (await load(caller, DURATION_MS)) / (DURATION_MS / 1000);
	} finally {
		await caller.stop();
		const exited = once(service, "exit");
		service.kill("SIGTERM");
		await exited;
		await deleteTransporterTopology(namespace, ["service", "caller"]);
	}
}

/** Seal and open of a request-sized packet, one after the other, for a second: pairs per second. */
function sealAndOpen(): { pairsPerSecond: number; bytes: number } {
	const sealer = new TransitSealer(clusterKeyring("transit", SECRET), "bench");
	const packet = Buffer.from(JSON.stringify({ ver: "4", sender: "caller", id: randomBytes(16).toString("hex"), action: "bench.echo", params: PARAMS }));
	const until = performance.now() + 1000;
	let pairs = 0;
	while (performance.now() < until) {
		if (!sealer.open("REQ", sealer.seal("REQ", packet)).ok) throw new Error("a sealed packet did not open");
		pairs++;
	}
	return { pairsPerSecond: pairs, bytes: packet.length };
}

async function main(): Promise<void> {
	if (process.argv[2] === "serve") return serve(process.argv[3], process.argv[4] === "true");
	const figures: { plain: number[]; sealed: number[] } = { plain: [], sealed: [] };
	for (let round = 0; round < 2; round++) {
		figures.plain.push(await run(false));
		figures.sealed.push(await run(true));
	}
	const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
	const { pairsPerSecond, bytes } = sealAndOpen();
	console.log(`Two nodes over RabbitMQ, ${IN_FLIGHT} calls in flight, ${DURATION_MS / 1000} s per run (requests/s):`);
	console.log(`  without ClusterAuthMiddleware  ${figures.plain.map(Math.round).join(", ")}  (mean ${Math.round(mean(figures.plain))})`);
	console.log(`  with ClusterAuthMiddleware     ${figures.sealed.map(Math.round).join(", ")}  (mean ${Math.round(mean(figures.sealed))})`);
	console.log(`  ratio                          ${(mean(figures.sealed) / mean(figures.plain)).toFixed(2)}`);
	console.log(`Seal + open of a ${bytes}-byte packet: ${Math.round(pairsPerSecond)} pairs/s (${(1e6 / pairsPerSecond).toFixed(1)} µs each)`);
}

await main();
