import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

/**
 * docker-compose.yml, as Docker Compose itself reads it (`docker compose
 * config`, which interpolates variables and validates the file; no Docker
 * engine needed): the real servers, every application container from the one
 * image choosing its services with SERVICES, the four core services each in
 * its own container, production mode, and secrets (the JWT and cluster
 * secrets, the RabbitMQ and PostgreSQL passwords) that only ever come from the
 * environment.
 *
 * Needs `docker compose` or Debian's `docker-compose`; without either the
 * tests fail (never skip), saying so.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const COMPOSE_FILE = join(ROOT, "docker-compose.yml");
const SERVERS = ["rabbitmq", "redis", "mongo", "postgres"] as const;
const KNOWN_SERVICES = ["api", "auth", "product", "order", "payment", "logs", "websocket"];
const EACH_ALONE = ["api", "product", "order", "payment"];
/** Every secret the stack needs, each required by the file and never given a value in it. */
const SECRETS = {
	JWT_SECRET: randomBytes(36).toString("base64url"),
	CLUSTER_SECRET: randomBytes(36).toString("base64url"),
	RABBITMQ_PASSWORD: randomBytes(24).toString("hex"),
	POSTGRES_PASSWORD: randomBytes(24).toString("hex"),
};

interface ComposeService {
	image?: string;
	build?: { context?: string; dockerfile?: string };
	command?: string[] | string | null;
	environment?: Record<string, string | null>;
	depends_on?: Record<string, { condition?: string }>;
	healthcheck?: { test?: string[] | string; disable?: boolean };
	ports?: Array<{ target: number; published?: string | number }>;
}
interface ComposeConfig {
	services: Record<string, ComposeService>;
}

interface Run {
	status: number | null;
	stdout: string;
	stderr: string;
}

// An empty env file, so that a developer's own .env (never committed) cannot
// supply a secret and hide a hard-coded or missing one.
const emptyEnvDir = mkdtempSync(join(tmpdir(), "shop-compose-test-"));
const EMPTY_ENV_FILE = join(emptyEnvDir, "empty.env");
writeFileSync(EMPTY_ENV_FILE, "");
afterAll(() => rmSync(emptyEnvDir, { recursive: true, force: true }));

function childEnv(env: Record<string, string>): Record<string, string> {
	const result: Record<string, string> = { ...env };
	for (const name of ["PATH", "HOME", "DOCKER_CONFIG"]) {
		const value = process.env[name];
		if (value !== undefined) result[name] = value;
	}
	return result;
}

interface ComposeTool {
	command: string;
	args: string[];
	/** Compose v2 prints JSON when asked; v1 (Debian's docker-compose) prints YAML. */
	json: boolean;
}

let tool: ComposeTool | undefined;
/**
 * `docker compose` (v2 plugin) when present, else Debian's `docker-compose`
 * (v1.29, which reads the same file); fails, saying what to install, when
 * neither answers.
 */
function composeTool(): ComposeTool {
	if (tool) return tool;
	const answers = (command: string, args: string[]) => spawnSync(command, args, { env: childEnv({}), encoding: "utf8", timeout: 30_000 }).status === 0;
	if (answers("docker", ["compose", "version"])) tool = { command: "docker", args: ["compose"], json: true };
	else if (answers("docker-compose", ["version"])) tool = { command: "docker-compose", args: [], json: false };
	else {
		throw new Error(
			"Neither `docker compose` (the Docker CLI's compose plugin) nor `docker-compose` answers, so docker-compose.yml cannot be checked. " +
				"Install one (on Debian: `apt-get install docker-compose`); `config` needs no Docker engine.",
		);
	}
	return tool;
}

/** `docker compose ... config` with only the variables given (plus PATH, HOME, DOCKER_CONFIG), parsed. */
function composeConfig(env: Record<string, string>): Run & { parsed?: ComposeConfig } {
	const { command, args: prefix, json } = composeTool();
	const args = [...prefix, "--project-directory", ROOT, "--env-file", EMPTY_ENV_FILE, "-f", COMPOSE_FILE, "config", ...(json ? ["--format", "json"] : [])];
	const result = spawnSync(command, args, { cwd: ROOT, env: childEnv(env), encoding: "utf8", timeout: 60_000 });
	if (result.error) throw new Error(`\`${command} ${args.join(" ")}\` could not run: ${result.error.message}`);
	const run: Run & { parsed?: ComposeConfig } = { status: result.status, stdout: result.stdout, stderr: result.stderr };
	if (run.status === 0) run.parsed = (json ? JSON.parse(run.stdout) : parseYaml(run.stdout)) as ComposeConfig;
	return run;
}

let cached: ComposeConfig | undefined;
function loadComposeConfig(): ComposeConfig {
	if (cached) return cached;
	const run = composeConfig(SECRETS);
	if (run.status !== 0) throw new Error(`docker compose config exited with ${run.status}:\n${run.stderr}`);
	cached = run.parsed!;
	return cached;
}

const servicesList = (service: ComposeService): string[] =>
	(service.environment?.SERVICES ?? "")
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean);

function appServices(config: ComposeConfig): Array<[string, ComposeService]> {
	return Object.entries(config.services).filter(([name]) => !(SERVERS as readonly string[]).includes(name));
}

describe("docker-compose.yml", () => {
	it("is accepted by `docker compose config` when every secret is set", () => {
		const run = composeConfig(SECRETS);
		expect({ status: run.status, stderr: run.status === 0 ? "" : run.stderr }).toEqual({ status: 0, stderr: "" });
		expect(run.parsed?.services).toEqual(expect.any(Object));
	});

	it.each(Object.keys(SECRETS))("is refused without %s, naming it", (name) => {
		for (const value of [undefined, ""]) {
			const env: Record<string, string> = { ...SECRETS };
			if (value === undefined) delete env[name];
			else env[name] = value;
			const run = composeConfig(env);
			expect({ name, status: run.status }).toEqual({ name, status: 1 });
			expect(run.stderr).toContain(name);
		}
	});

	it("gives RabbitMQ a user and virtual host of its own, which every node uses: no guest", () => {
		const { services } = loadComposeConfig();
		expect(services.rabbitmq.environment).toMatchObject({
			RABBITMQ_DEFAULT_USER: "shop",
			RABBITMQ_DEFAULT_PASS: SECRETS.RABBITMQ_PASSWORD,
			RABBITMQ_DEFAULT_VHOST: "shop",
		});
		for (const [name, service] of appServices(loadComposeConfig())) {
			expect({ name, TRANSPORTER: service.environment?.TRANSPORTER }).toEqual({
				name,
				TRANSPORTER: `amqp://shop:${SECRETS.RABBITMQ_PASSWORD}@rabbitmq:5672/shop`,
			});
		}
		expect(readFileSync(COMPOSE_FILE, "utf8")).not.toMatch(/guest/);
	});

	it("runs the real servers, each with a health check", () => {
		const { services } = loadComposeConfig();
		for (const name of SERVERS) {
			expect(services).toHaveProperty(name);
			expect(services[name].healthcheck?.test).toBeTruthy();
			expect(services[name].healthcheck?.disable).toBeFalsy();
		}
		expect(services.rabbitmq.image).toMatch(/^rabbitmq:3-management/);
		expect(services.redis.image).toMatch(/^redis:7/);
		expect(services.mongo.image).toMatch(/^mongo:7/);
		expect(services.postgres.image).toMatch(/^postgres:16/);
		// The Redis-first buffers (carts, access logs) must survive a restart.
		const redisCommand = [services.redis.command ?? []].flat().join(" ");
		expect(redisCommand).toMatch(/--appendonly\s+yes/);
	});

	it("builds every application container from the one image, each choosing its services with SERVICES", () => {
		const apps = appServices(loadComposeConfig());
		expect(apps.length).toBeGreaterThanOrEqual(EACH_ALONE.length);
		const [, first] = apps[0];
		expect(first.build?.context).toBeTruthy();
		expect(first.image).toBeTruthy();
		for (const [name, service] of apps) {
			expect({ name, build: service.build, image: service.image }).toEqual({ name, build: first.build, image: first.image });
			expect({ name, SERVICES: service.environment?.SERVICES }).toEqual({ name, SERVICES: expect.stringMatching(/\S/) });
			for (const s of servicesList(service)) expect(KNOWN_SERVICES).toContain(s);
		}
		// Every service of the shop runs somewhere.
		const run = new Set(apps.flatMap(([, service]) => servicesList(service)));
		expect([...run].sort()).toEqual([...KNOWN_SERVICES].sort());
	});

	it("runs api, product, order and payment each in a container of its own", () => {
		const apps = appServices(loadComposeConfig());
		for (const wanted of EACH_ALONE) {
			const hosts = apps.filter(([, service]) => servicesList(service).includes(wanted));
			expect({ wanted, containers: hosts.length }).toEqual({ wanted, containers: 1 });
			expect({ wanted, runsAlongside: servicesList(hosts[0][1]) }).toEqual({ wanted, runsAlongside: [wanted] });
		}
	});

	it("publishes the HTTP API on 3000 and socket.io on 3001", () => {
		const apps = appServices(loadComposeConfig());
		const publishes = (service: ComposeService, port: number) =>
			(service.ports ?? []).some((p) => p.target === port && String(p.published) === String(port));
		const gateway = apps.find(([, service]) => servicesList(service).includes("api"))!;
		const websocket = apps.find(([, service]) => servicesList(service).includes("websocket"))!;
		expect(publishes(gateway[1], 3000)).toBe(true);
		expect(publishes(websocket[1], 3001)).toBe(true);
	});

	it("runs every application container in production against the real servers, started once they are healthy", () => {
		for (const [name, service] of appServices(loadComposeConfig())) {
			const env = service.environment ?? {};
			expect({ name, NODE_ENV: env.NODE_ENV }).toEqual({ name, NODE_ENV: "production" });
			expect({ name, JWT_SECRET: env.JWT_SECRET, CLUSTER_SECRET: env.CLUSTER_SECRET }).toEqual({
				name,
				JWT_SECRET: SECRETS.JWT_SECRET,
				CLUSTER_SECRET: SECRETS.CLUSTER_SECRET,
			});
			expect(env.TRANSPORTER).toMatch(/^amqp:\/\/[^/]*@?rabbitmq:5672/);
			expect(env.REDIS_URL).toMatch(/^redis:\/\/redis:6379/);
			expect(env.DATABASE_URL).toMatch(/^postgres(ql)?:\/\/[^/]*@postgres:5432\//);
			expect(env.MONGO_URL).toMatch(/^mongodb:\/\/mongo:27017\//);
			const dependsOn = service.depends_on ?? {};
			expect({ name, dependsOn: Object.keys(dependsOn).sort() }).toEqual({ name, dependsOn: expect.arrayContaining(["rabbitmq", "redis"]) });
			for (const [server, dependency] of Object.entries(dependsOn)) {
				expect({ name, server, condition: dependency.condition }).toEqual({ name, server, condition: "service_healthy" });
			}
		}
	});

	it("hard-codes no secret: the file only refers to the required variables", () => {
		const text = readFileSync(COMPOSE_FILE, "utf8");
		const lines = text.split("\n").filter((line) => !line.trim().startsWith("#"));
		for (const name of Object.keys(SECRETS)) {
			const uses = lines.flatMap((line) => [...line.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, "g"))].map((match) => match[1]));
			expect({ name, used: uses.length > 0 }).toEqual({ name, used: true });
			// `:?` makes it required; `:-` or `-` would give it a default written here.
			for (const modifier of uses) expect({ name, modifier }).toEqual({ name, modifier: expect.stringMatching(/^:\?/) });
		}
		// The shared environment is one YAML anchor, used by every application container.
		expect(text).toMatch(/^x-shop-env:\s*&\S+/m);
	});
});
