import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { startJongodb, type EmbeddedMongo } from "../../shared/embedded/jongodb.js";
import { Cluster, freePort } from "../support/cluster.js";
import { testServers } from "../support/servers.js";
import { createTestEnvironment, type TestEnvironment } from "../support/test-broker.js";
import { waitFor } from "../support/wait-for.js";

/**
 * README's "As several nodes", as written: its environment and its nodes are
 * read from README.md itself, so the section and this test cannot drift
 * apart. Only what isolates this run from others is changed: the database
 * name (a fresh one, which nobody creates: the nodes must), the namespace,
 * the ports, the JWT secret, and MongoDB, a jongodb of this test's own on
 * the port README gives it, so the test can stop it.
 */
interface ReadmeCluster {
	env: Record<string, string>;
	nodes: string[];
}

function readmeSection(): ReadmeCluster {
	const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
	const section = readme.slice(readme.indexOf("### As several nodes"), readme.indexOf("\n### ", readme.indexOf("### As several nodes") + 1));
	const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
	const cluster = blocks.find((block) => block.includes("export TRANSPORTER"));
	if (!cluster) throw new Error("README's 'As several nodes' has no export block");
	const exported = /export ([\s\S]*?)(?:#.*)?\n(?!\s)/.exec(cluster)![1].replace(/\\\n/g, " ");
	const env = Object.fromEntries([...exported.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
	const nodes = [...cluster.matchAll(/^SERVICES=(\S+)\s+npm start/gm)].map((m) => m[1]);
	return { env, nodes };
}

/** A TCP relay in front of PostgreSQL for one node, which the test can cut and restore. */
class CuttableLink {
	private server?: Server;
	private readonly sockets = new Set<Socket>();

	constructor(
		readonly port: number,
		private readonly target: { host: string; port: number },
	) {}

	async open(): Promise<void> {
		this.server = createServer((client) => {
			const upstream = connect(this.target.port, this.target.host);
			for (const socket of [client, upstream]) {
				this.sockets.add(socket);
				socket.on("close", () => this.sockets.delete(socket));
				socket.on("error", () => socket.destroy());
			}
			client.pipe(upstream).pipe(client);
		});
		await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
	}

	async cut(): Promise<void> {
		for (const socket of this.sockets) socket.destroy();
		await new Promise((resolve) => this.server?.close(resolve));
	}
}

describe("README: as several nodes", () => {
	const readme = readmeSection();
	let env: TestEnvironment;
	let cluster: Cluster;
	let mongo: EmbeddedMongo;
	let paymentLink: CuttableLink;
	let database: string;
	let shopperToken: string;

	const ready = async () => {
		const response = await fetch(`${cluster.apiUrl}/health/ready`);
		return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, string> } };
	};

	beforeAll(async () => {
		env = await createTestEnvironment();
		const readmeDatabase = new URL(readme.env.DATABASE_URL);
		database = `shop_readme_${randomBytes(4).toString("hex")}`;
		const databaseUrl = new URL(readme.env.DATABASE_URL);
		databaseUrl.pathname = `/${database}`;
		const mongoUrl = new URL(readme.env.MONGO_URL);
		mongo = await startJongodb(await freePort());
		mongoUrl.port = new URL(mongo.url).port;
		// The payment node reaches PostgreSQL through a link the test can cut.
		paymentLink = new CuttableLink(await freePort(), { host: readmeDatabase.hostname, port: Number(readmeDatabase.port) });
		await paymentLink.open();
		const paymentDatabaseUrl = new URL(databaseUrl);
		paymentDatabaseUrl.port = String(paymentLink.port);

		cluster = await Cluster.create(env);
		for (const services of readme.nodes) {
			cluster.start(services.replace(/,/g, "-"), services, {
				TRANSPORTER: readme.env.TRANSPORTER,
				REDIS_URL: readme.env.REDIS_URL,
				DATABASE_URL: services === "payment" ? paymentDatabaseUrl.toString() : databaseUrl.toString(),
				MONGO_URL: mongoUrl.toString(),
			});
		}
		await cluster.waitUntilReady();
	}, 120_000);

	afterAll(async () => {
		await cluster?.stopAll();
		await paymentLink?.cut();
		await mongo?.stop();
		await env?.drop();
		const pg = await import("pg");
		const admin = new pg.default.Client({ connectionString: testServers.postgresAdminUrl });
		await admin.connect();
		await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
		await admin.end();
	}, 60_000);

	it("is README's section: the servers' URLs and the five nodes", () => {
		expect(Object.keys(readme.env).sort()).toEqual(["CLUSTER_SECRET", "DATABASE_URL", "JWT_SECRET", "MONGO_URL", "REDIS_URL", "TRANSPORTER"]);
		expect(readme.nodes).toEqual(["api", "product", "order", "payment", "auth,logs,websocket"]);
	});

	it("starts with the database created by the nodes, answers, and logs no warning or error", async () => {
		const { status, body } = await ready();
		expect(status).toBe(200);
		for (const service of ["auth", "product", "order", "payment", "logs"]) expect(body.checks[`${service}:postgres`]).toBe("up");
		expect(body.checks["product:mongodb"]).toBe("up");
		expect(body.checks["logs:redis"]).toBe("up");
		expect((await fetch(`${cluster.apiUrl}/products`)).status).toBe(200);
		const register = await fetch(`${cluster.apiUrl}/auth/register`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "readme@example.com", password: "a long password", name: "Readme" }),
		});
		expect(register.status).toBe(201);
		expect(register.headers.get("location")).toBe("/api/auth/me");
		shopperToken = ((await register.json()) as { accessToken: string }).accessToken;
		const warnings = cluster
			.logs()
			.split("\n")
			.filter((line) => /\b(WARN|ERROR|FATAL)\b/.test(line));
		expect(warnings).toEqual([]);
	}, 30_000);

	it("names payment's PostgreSQL when that node cannot reach it, answers 503 for what needs it, and recovers", async () => {
		await paymentLink.cut();
		await waitFor(async () => (await ready()).body.checks["payment:postgres"] === "down", "readiness naming payment:postgres", 20_000);
		const { status, body } = await ready();
		expect(status).toBe(503);
		expect(body.checks["order:postgres"]).toBe("up");
		const payments = await fetch(`${cluster.apiUrl}/payments`, { headers: { authorization: `Bearer ${shopperToken}` } });
		expect(payments.status).toBe(503);
		expect(((await payments.json()) as { error: { code: string } }).error.code).toBe("SERVICE_UNAVAILABLE");
		await paymentLink.open();
		await waitFor(async () => (await ready()).status === 200, "readiness again", 30_000);
		expect((await fetch(`${cluster.apiUrl}/payments`, { headers: { authorization: `Bearer ${shopperToken}` } })).status).toBe(200);
	}, 60_000);

	it("names MongoDB on the product service when MongoDB stops, and answers catalog reads with 503", async () => {
		await mongo.stop();
		await waitFor(async () => (await ready()).body.checks["product:mongodb"] === "down", "readiness naming product:mongodb", 20_000);
		expect((await ready()).status).toBe(503);
		const products = await fetch(`${cluster.apiUrl}/products?q=nothing-cached`);
		expect(products.status).toBe(503);
		expect(((await products.json()) as { error: { code: string } }).error.code).toBe("SERVICE_UNAVAILABLE");
	}, 60_000);

	it("answers 503 SERVICE_UNAVAILABLE, not 500, once no node runs the product service", async () => {
		const productNode = cluster.nodes.get("product")!;
		await cluster.stop("product");
		// A clean stop (SIGTERM), with its MongoDB already gone, says nothing alarming either.
		expect(productNode.process.exitCode).toBe(0);
		expect(
			productNode.output
				.join("")
				.split("\n")
				.filter((line) => /\b(ERROR|FATAL)\b/.test(line)),
		).toEqual([]);
		await waitFor(async () => (await ready()).body.checks["service:product"] === "down", "readiness naming service:product", 20_000);
		const products = await fetch(`${cluster.apiUrl}/products`);
		expect(products.status).toBe(503);
		expect(((await products.json()) as { error: { code: string } }).error.code).toBe("SERVICE_UNAVAILABLE");
	}, 60_000);

	it("stops every node cleanly: exit code 0, no error logged", async () => {
		const nodes = [...cluster.nodes.values()];
		// What they logged about the outages above is not part of the stop.
		for (const node of nodes) node.output.splice(0);
		for (const node of nodes) await cluster.stop(node.name);
		for (const node of nodes) {
			expect({ node: node.name, exitCode: node.process.exitCode }).toEqual({ node: node.name, exitCode: 0 });
			expect(
				node.output
					.join("")
					.split("\n")
					.filter((line) => /\b(ERROR|FATAL)\b/.test(line)),
			).toEqual([]);
		}
	}, 60_000);

	it("stops a node whose MongoDB does not answer within DEPENDENCY_WAIT_SECONDS, with one line naming the URL", async () => {
		const mongoUrl = `mongodb://127.0.0.1:${await freePort()}/shop`;
		const node = cluster.start("product-no-mongo", "product", {
			TRANSPORTER: readme.env.TRANSPORTER,
			REDIS_URL: readme.env.REDIS_URL,
			DATABASE_URL: env.databaseUrl,
			MONGO_URL: mongoUrl,
			DEPENDENCY_WAIT_SECONDS: "3",
		});
		await waitFor(() => node.process.exitCode !== null, "the node to give up", 30_000);
		expect(node.process.exitCode).toBe(1);
		const said = node.output
			.join("")
			.trim()
			.split("\n")
			.filter((line) => !/\bINFO\b/.test(line));
		// Moleculer's own line, then the process's: each the one sentence, no stack.
		expect(said).toEqual([
			expect.stringMatching(/ERROR BROKER: Unable to start all services\. \[StartupError: MongoDB at .* did not answer within 3 s/),
			expect.stringMatching(
				new RegExp(`^MongoDB at ${mongoUrl.replace(/[./]/g, "\\$&")} did not answer within 3 s \\(.*\\); start it, or fix MONGO_URL$`),
			),
		]);
	}, 60_000);
});
