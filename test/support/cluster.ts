import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import amqp from "amqplib";
import { freePort } from "../../shared/embedded/free-port.js";
import { ChannelConsumers } from "../../shared/contracts.js";
import { channelExchange, channelQueue, deadLetterExchange, deadLetterQueue } from "../../shared/messaging/topology.js";
import { testServers } from "./servers.js";
import type { TestEnvironment } from "./test-broker.js";

/**
 * The system as several OS processes (nodes), each running `server.ts` with
 * its own SERVICES, talking over the real RabbitMQ, sharing the real Redis and
 * PostgreSQL, and jongodb for the catalog.
 */
export { freePort };

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ClusterNode {
	name: string;
	services: string;
	process: ChildProcess;
	output: string[];
}

export class Cluster {
	readonly nodes = new Map<string, ClusterNode>();
	/** The JWT_SECRET every node of this cluster gets: its environment's, so the test's own brokers and tokens agree with it. */
	readonly jwtSecret: string;
	/** The CLUSTER_SECRET that makes its nodes, and the test's own brokers joining over RabbitMQ, one cluster. */
	readonly clusterSecret: string;

	private constructor(
		readonly env: TestEnvironment,
		readonly apiPort: number,
		readonly wsPort: number,
	) {
		this.jwtSecret = env.jwtSecret;
		this.clusterSecret = env.clusterSecret;
	}

	static async create(env: TestEnvironment): Promise<Cluster> {
		return new Cluster(env, await freePort(), await freePort());
	}

	get apiUrl(): string {
		return `http://127.0.0.1:${this.apiPort}/api`;
	}

	get wsUrl(): string {
		return `http://127.0.0.1:${this.wsPort}`;
	}

	/** Starts one node running `services` (comma list, as SERVICES takes it). */
	start(name: string, services: string, extraEnv: Record<string, string> = {}): ClusterNode {
		const child = spawn(process.execPath, ["--import", "tsx", "server.ts"], {
			cwd: ROOT,
			env: {
				PATH: process.env.PATH,
				HOME: process.env.HOME,
				NODE_ENV: "test",
				NODE_ID: `${name}-${this.env.namespace}`,
				SERVICES: services,
				NAMESPACE: this.env.namespace,
				TRANSPORTER: testServers.amqpUrl,
				JWT_SECRET: this.jwtSecret,
				CLUSTER_SECRET: this.clusterSecret,
				REDIS_URL: this.env.redisUrl,
				DATABASE_URL: this.env.databaseUrl,
				MONGO_URL: this.env.mongoUrl,
				PORT: String(this.apiPort),
				WS_PORT: String(this.wsPort),
				LOG_LEVEL: "warn",
				// Tests log in and register from one address far more often than a person does.
				AUTH_REQUESTS_PER_MINUTE: "100000",
				LOGS_FLUSH_INTERVAL_MS: "300",
				...extraEnv,
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		const node: ClusterNode = { name, services, process: child, output: [] };
		const keep = (chunk: Buffer) => {
			node.output.push(chunk.toString());
			if (node.output.length > 200) node.output.shift();
		};
		child.stdout!.on("data", keep);
		child.stderr!.on("data", keep);
		this.nodes.set(name, node);
		return node;
	}

	/** Stops a node the way an orchestrator does: SIGTERM, then SIGKILL if it hangs. */
	async stop(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
		const node = this.nodes.get(name);
		if (!node) return;
		this.nodes.delete(name);
		if (node.process.exitCode !== null || node.process.signalCode !== null) return;
		const exited = once(node.process, "exit");
		node.process.kill(signal);
		const timer = setTimeout(() => node.process.kill("SIGKILL"), 8000);
		await exited;
		clearTimeout(timer);
	}

	async stopAll(): Promise<void> {
		await Promise.all([...this.nodes.keys()].map((name) => this.stop(name)));
		await deleteChannelQueues(this.env.namespace);
	}

	/** Waits until the gateway reports every dependency and routed service up. */
	async waitUntilReady(timeoutMs = 90_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		let last = "no answer";
		while (Date.now() < deadline) {
			for (const node of this.nodes.values()) {
				if (node.process.exitCode !== null) throw new Error(`Node ${node.name} exited with ${node.process.exitCode}:\n${node.output.join("")}`);
			}
			try {
				const response = await fetch(`${this.apiUrl}/health/ready`);
				last = await response.text();
				if (response.status === 200) return;
			} catch (err) {
				last = (err as Error).message;
			}
			await new Promise((resolve) => setTimeout(resolve, 300));
		}
		throw new Error(`Cluster not ready after ${timeoutMs} ms; last answer: ${last}\n${this.logs()}`);
	}

	logs(): string {
		return [...this.nodes.values()].map((n) => `--- ${n.name} (${n.services}) ---\n${n.output.join("")}`).join("\n");
	}
}

/** Durable channel queues outlive the nodes by design; a test run removes its own. */
export async function deleteChannelQueues(namespace: string): Promise<void> {
	const connection = await amqp.connect(testServers.amqpUrl);
	const channel = await connection.createChannel();
	for (const [name, groups] of Object.entries(ChannelConsumers)) {
		for (const group of groups) await channel.deleteQueue(channelQueue(namespace, name, group));
		await channel.deleteExchange(channelExchange(namespace, name));
	}
	await channel.deleteQueue(deadLetterQueue(namespace));
	await channel.deleteExchange(deadLetterExchange(namespace));
	await connection.close();
}
