import type { ServiceBroker } from "moleculer";
import ApiService from "../services/api.service.js";
import AuthService from "../services/auth/auth.service.js";
import LogsService from "../services/logs/logs.service.js";
import OrderService from "../services/order/order.service.js";
import PaymentService from "../services/payment/payment.service.js";
import ProductService from "../services/product/product.service.js";
import WebsocketService from "../services/websocket/websocket.service.js";
import { DEMO_PRODUCTS } from "../shared/seed/demo-catalog.js";
import { Cluster, freePort } from "../test/support/cluster.js";
import { testServers } from "../test/support/servers.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../test/support/test-broker.js";
import { waitFor } from "../test/support/wait-for.js";
import { ApiClient } from "../client/api-client.js";
import { runCli } from "./program.js";
import { AuthActions } from "../shared/contracts.js";

interface Run {
	code: number;
	out: string;
	err: string;
}

describe("operators' CLI", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let api: string;
	const admin = { email: "ops@test.local", password: "correct-horse-battery" };
	const customer = { email: "carol@test.local", password: "crimson-lantern-41", name: "Carol" };

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService, LogsService, WebsocketService], {
			port,
			wsPort: await freePort(),
		});
		await broker.call(AuthActions.ensureAdmin.name, admin);
		api = `http://127.0.0.1:${port}/api`;
		await new ApiClient(api).register(customer.email, customer.password, customer.name);
	});

	afterAll(async () => {
		await broker.stop();
		await env.drop();
	});

	/**
	 * Runs one command line in process with `extraEnv` in process.env, where
	 * commander looks for the options' variables: the test's environment
	 * without SHOP_/ADMIN_ variables, plus these. Commands run one at a time.
	 */
	async function cli(argv: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
		const out: string[] = [];
		const err: string[] = [];
		const saved = process.env;
		const { SHOP_API_URL: _url, ADMIN_EMAIL: _email, ADMIN_PASSWORD: _password, ...base } = saved;
		process.env = { ...base, ...extraEnv };
		try {
			const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
			return { code, out: out.join("\n"), err: err.join("\n") };
		} finally {
			process.env = saved;
		}
	}

	const catalog = () => new ApiClient(api).listProducts({ pageSize: 100 });

	describe("options and their environment variables", () => {
		it("--help names each option's variable and default", async () => {
			const help = async (command: string) => {
				const run = await cli([command, "--help"]);
				expect(run).toMatchObject({ code: 0, err: "" });
				// Commander wraps long lines; one space between words is enough here.
				return run.out.replace(/\s+/g, " ");
			};
			const apiFallback = '--api <url> API base URL (default: "http://localhost:3000/api", env: SHOP_API_URL)';
			for (const command of ["health", "products", "seed", "logs"]) expect(await help(command)).toContain(apiFallback);
			for (const command of ["seed", "logs", "admin:create"]) {
				const text = await help(command);
				expect(text).toMatch(/--email <email> [^(]*\(required\) \(env: ADMIN_EMAIL\)/);
				expect(text).toMatch(/--password <password> [^(]*\(required\) \(env: ADMIN_PASSWORD\)/);
			}
			expect(await help("admin:create")).toContain("TRANSPORTER, CLUSTER_SECRET, JWT_SECRET, NAMESPACE");
		});

		it("takes a flag over its variable", async () => {
			const deadApi = `http://127.0.0.1:${await freePort()}/api`;
			const flagged = await cli(["health", "--api", api], { SHOP_API_URL: deadApi });
			expect(flagged).toMatchObject({ code: 0, err: "" });
			expect(flagged.out.split("\n")[0]).toBe(`${api}: ready`);

			// The right password in the flag wins over a wrong one in ADMIN_PASSWORD.
			const logs = await cli(["logs", "--api", api, "--password", admin.password, "--limit", "1"], {
				ADMIN_EMAIL: admin.email,
				ADMIN_PASSWORD: "not-the-password",
			});
			expect(logs).toMatchObject({ code: 0, err: "" });
		});

		it("names the option and its variable when a variable is set to nothing or to no URL", async () => {
			const empty = await cli(["logs", "--api", api], { ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: "" });
			expect(empty.code).toBe(1);
			expect(empty.err).toMatch(/^error: option '--password <password>' value '' from env 'ADMIN_PASSWORD' is invalid\. must not be empty$/m);

			const notUrl = await cli(["products"], { SHOP_API_URL: "localhost:3000/api" });
			expect(notUrl.code).toBe(1);
			expect(notUrl.err).toMatch(
				/^error: option '--api <url>' value 'localhost:3000\/api' from env 'SHOP_API_URL' is invalid\. must be an http:\/\/ or https:\/\/ URL$/m,
			);
		});
	});

	describe("health", () => {
		it("reports ready with every check up", async () => {
			const run = await cli(["health", "--api", api]);
			expect(run).toMatchObject({ code: 0, err: "" });
			expect(run.out).toMatch(/: ready$/m);
			for (const check of ["redis", "auth:postgres", "product:mongodb", "websocket:socket.io", "logs:redis", "service:order", "service:logs"]) {
				expect(run.out).toMatch(new RegExp(`^  ok\\s+${check}\\s+up$`, "m"));
			}
		});

		it("fails with exit code 1 and UNREACHABLE when no API answers", async () => {
			const run = await cli(["health", "--api", `http://127.0.0.1:${await freePort()}/api`]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: UNREACHABLE: Cannot reach the API/);
		});
	});

	describe("seed", () => {
		it("refuses a wrong admin password with INVALID_CREDENTIALS and exit code 1, creating nothing", async () => {
			const run = await cli(["seed", "--api", api, "--email", admin.email, "--password", "not-the-password"]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: INVALID_CREDENTIALS: Email or password is wrong \(request [\w-]+\)$/);
			expect((await catalog()).total).toBe(0);
		});

		it("refuses a customer with FORBIDDEN, creating nothing", async () => {
			const run = await cli(["seed", "--api", api, "--email", customer.email, "--password", customer.password]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: FORBIDDEN: /);
			expect((await catalog()).total).toBe(0);
		});

		it("asks for credentials when none are given, neither as flags nor in the environment", async () => {
			const run = await cli(["seed", "--api", api]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: required option '--email <email>' not specified$/m);
			expect(run.err).toContain("add --help to see the options and the environment variables they fall back on");

			const noPassword = await cli(["seed", "--api", api], { ADMIN_EMAIL: admin.email });
			expect(noPassword.code).toBe(1);
			expect(noPassword.err).toMatch(/^error: required option '--password <password>' not specified$/m);
			expect((await catalog()).total).toBe(0);
		});

		it("creates the demo products once: a second run changes nothing", async () => {
			const first = await cli(["seed", "--api", api, "--email", admin.email, "--password", admin.password]);
			expect(first).toMatchObject({ code: 0, err: "" });
			expect(first.out).toContain(`Seeded ${DEMO_PRODUCTS.length} demo products.`);
			const seeded = await catalog();
			expect(seeded.items.map((p) => p.name).sort()).toEqual(DEMO_PRODUCTS.map((p) => p.name).sort());
			for (const product of DEMO_PRODUCTS)
				expect(seeded.items.find((p) => p.name === product.name)).toMatchObject({ price: product.price, available: product.stock });

			// Credentials from the environment this time, and the API URL too.
			const second = await cli(["seed"], { SHOP_API_URL: api, ADMIN_EMAIL: admin.email, ADMIN_PASSWORD: admin.password });
			expect(second).toMatchObject({ code: 0, err: "" });
			expect(second.out).toBe(`The catalog already has ${DEMO_PRODUCTS.length} product(s): nothing to seed.`);
			expect((await catalog()).total).toBe(DEMO_PRODUCTS.length);
		});
	});

	describe("products", () => {
		it("prints the catalog as a table with prices and availability", async () => {
			const run = await cli(["products"], { SHOP_API_URL: api });
			expect(run).toMatchObject({ code: 0, err: "" });
			const lines = run.out.split("\n");
			expect(lines[0]).toMatch(/^ID\s+NAME\s+CATEGORY\s+PRICE\s+AVAILABLE$/);
			expect(run.out).toMatch(/Espresso beans, 1 kg\s+coffee\s+24\.90 EUR\s+40$/m);
			expect(run.out).toMatch(/Limited edition geisha, 250 g\s+coffee\s+59\.00 EUR\s+3$/m);
			expect(lines.at(-1)).toBe(`Page 1 of 1, ${DEMO_PRODUCTS.length} product(s).`);
		});

		it("searches by name and pages", async () => {
			const grinder = await cli(["products", "--api", api, "--q", "grinder"]);
			expect(grinder.code).toBe(0);
			expect(grinder.out).toContain("Hand grinder");
			expect(grinder.out).not.toContain("Espresso");
			expect(grinder.out.split("\n").at(-1)).toBe("Page 1 of 1, 1 product(s).");

			const beyond = await cli(["products", "--api", api, "--page", "5"]);
			expect(beyond).toMatchObject({ code: 0, out: `No products on page 5 (${DEMO_PRODUCTS.length} in 1 pages).` });
		});

		it("rejects a page that is not a positive integer", async () => {
			const run = await cli(["products", "--api", api, "--page", "0"]);
			expect(run.code).toBe(1);
			expect(run.err).toContain("argument '0' is invalid");
		});
	});

	describe("logs", () => {
		it("shows the access log to an admin, filtered by status and path", async () => {
			const failed = await fetch(`${api}/auth/me`, { headers: { "X-Request-ID": "cli-logs-probe" } });
			expect(failed.status).toBe(401);
			// Access logs reach the database in batches: poll until this one is there.
			const run = await waitFor(async () => {
				const attempt = await cli([
					"logs",
					"--api",
					api,
					"--email",
					admin.email,
					"--password",
					admin.password,
					"--status",
					"401",
					"--path",
					"/api/auth/me",
				]);
				return attempt.out.includes("cli-logs-probe") ? attempt : undefined;
			}, "the 401 on /api/auth/me in the access log");
			expect(run).toMatchObject({ code: 0, err: "" });
			const [header, , ...entries] = run.out.split("\n");
			expect(header).toMatch(/^AT \(UTC\)\s+STATUS\s+METHOD\s+PATH\s+MS\s+USER\s+REQUEST$/);
			expect(entries.length).toBeGreaterThan(0);
			for (const entry of entries) expect(entry).toMatch(/\s401\s+GET\s+\/api\/auth\/me\s/);
			expect(entries.find((e) => e.endsWith("cli-logs-probe"))).toBeDefined();

			const limited = await cli(["logs", "--api", api, "--email", admin.email, "--password", admin.password, "--limit", "1"]);
			expect(limited.code).toBe(0);
			expect(limited.out.split("\n")).toHaveLength(3);
		});

		it("refuses a customer with FORBIDDEN", async () => {
			const run = await cli(["logs", "--api", api, "--email", customer.email, "--password", customer.password]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: FORBIDDEN: /);
		});
	});

	describe("admin:create", () => {
		it("fails clearly without a TRANSPORTER", async () => {
			const run = await cli(["admin:create", "--email", "x@test.local", "--password", "long-enough-1"]);
			expect(run.code).toBe(1);
			expect(run.err).toMatch(/^error: NO_TRANSPORTER: .*set TRANSPORTER/);
		});

		describe("joining the cluster over RabbitMQ", () => {
			// An auth node of the same cluster (namespace, database) in its own process, reachable over the real RabbitMQ.
			let cluster: Cluster;
			// A node joining the cluster needs the cluster's NAMESPACE, CLUSTER_SECRET and JWT_SECRET, the CLI too.
			let overRabbit: Record<string, string>;

			beforeAll(async () => {
				cluster = await Cluster.create(env);
				cluster.start("auth", "auth");
				overRabbit = {
					TRANSPORTER: testServers.amqpUrl,
					NAMESPACE: env.namespace,
					JWT_SECRET: cluster.jwtSecret,
					CLUSTER_SECRET: cluster.clusterSecret,
				};
			});

			afterAll(async () => {
				await cluster.stopAll();
			});

			it("creates the admin, who can then log in; a second run says it already exists", async () => {
				const newAdmin = { email: "second-admin@test.local", password: "quiet-meadow-pw" };
				// The first run also waits for the auth node to come up.
				const first = await cli(
					["admin:create", "--email", newAdmin.email, "--password", newAdmin.password, "--name", "Second", "--timeout", "60"],
					overRabbit,
				);
				if (first.code !== 0) throw new Error(`admin:create failed: ${first.err}\n${cluster.logs()}`);
				expect(first).toMatchObject({ code: 0, err: "" });
				expect(first.out).toMatch(/^Created admin second-admin@test\.local \([0-9a-f-]{36}\)\.$/);

				const { user } = await new ApiClient(api).login(newAdmin.email, newAdmin.password);
				expect(user).toMatchObject({ email: newAdmin.email, name: "Second", role: "admin" });

				// Credentials from the environment this time.
				const second = await cli(["admin:create"], { ...overRabbit, ADMIN_EMAIL: newAdmin.email, ADMIN_PASSWORD: "another-password" });
				expect(second).toMatchObject({ code: 0, err: "" });
				expect(second.out).toBe("The admin second-admin@test.local already exists; nothing changed.");
				// The password did not change.
				await expect(new ApiClient(api).login(newAdmin.email, "another-password")).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
			}, 90_000);

			it("fails when the email belongs to a customer, who stays a customer", async () => {
				const run = await cli(["admin:create", "--email", customer.email, "--password", "whatever-password"], overRabbit);
				expect(run.code).toBe(1);
				expect(run.err).toBe(`error: NOT_AN_ADMIN: ${customer.email} already has an account with the role customer; it was not made an admin`);
				expect((await new ApiClient(api).login(customer.email, customer.password)).user.role).toBe("customer");
			});

			it("refuses to join without JWT_SECRET, naming it, and creates nobody", async () => {
				const run = await cli(["admin:create", "--email", "no-secret@test.local", "--password", "long-enough-1"], { ...overRabbit, JWT_SECRET: "" });
				expect(run.code).toBe(1);
				expect(run.err).toMatch(/^error: INVALID_CONFIG: .*\n {2}- JWT_SECRET must be set when TRANSPORTER is set/);
				await expect(new ApiClient(api).login("no-secret@test.local", "long-enough-1")).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
			});

			it("refuses to join without CLUSTER_SECRET, naming it, and creates nobody", async () => {
				const run = await cli(["admin:create", "--email", "no-cluster-secret@test.local", "--password", "long-enough-1"], {
					...overRabbit,
					CLUSTER_SECRET: "",
				});
				expect(run.code).toBe(1);
				expect(run.err).toMatch(/^error: INVALID_CONFIG: .*\n {2}- CLUSTER_SECRET must be set when TRANSPORTER is set/);
				await expect(new ApiClient(api).login("no-cluster-secret@test.local", "long-enough-1")).rejects.toMatchObject({ code: "INVALID_CREDENTIALS" });
			});

			it("reports the auth service's validation error with exit code 1", async () => {
				const run = await cli(["admin:create", "--email", "short@test.local", "--password", "short"], overRabbit);
				expect(run.code).toBe(1);
				expect(run.err).toMatch(/^error: VALIDATION_ERROR: .*'password'/);
			});
		});
	});
});
