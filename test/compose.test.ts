import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * docker-compose.yml, as Docker Compose itself reads it (`docker compose
 * config`, which interpolates variables and validates the file; no Docker
 * engine needed): the real servers, every application container from the one
 * image choosing its services with SERVICES, the four core services each in
 * its own container, production mode, and a JWT secret that only ever comes
 * from the environment.
 *
 * Needs the Docker CLI with its compose plugin; without them the tests fail
 * (never skip), saying so.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const COMPOSE_FILE = join(ROOT, "docker-compose.yml");
const SERVERS = ["rabbitmq", "redis", "mongo", "postgres"] as const;
const KNOWN_SERVICES = ["api", "auth", "product", "order", "payment", "logs", "websocket"];
const EACH_ALONE = ["api", "product", "order", "payment"];
const SECRET = randomBytes(36).toString("base64url");

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
// supply JWT_SECRET and hide a hard-coded or missing one.
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

let composeChecked = false;
/** Fails, with what to install, when `docker` or its compose plugin is missing. */
function requireDockerCompose(): void {
	if (composeChecked) return;
	const result = spawnSync("docker", ["compose", "version"], { env: childEnv({}), encoding: "utf8", timeout: 30_000 });
	if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
		throw new Error(
			"The `docker` command is missing, so docker-compose.yml cannot be checked. Install the Docker CLI with its compose plugin " +
				"(`docker compose version` must answer; `docker compose config` needs no Docker engine).",
		);
	}
	if (result.error) throw new Error(`\`docker compose version\` could not run: ${result.error.message}`);
	if (result.status !== 0) {
		throw new Error(
			"`docker` is installed but its compose plugin (Docker Compose v2) is not, so docker-compose.yml cannot be checked. " +
				`Install the compose plugin (\`docker compose version\` must answer). docker said: ${(result.stderr || result.stdout).trim()}`,
		);
	}
	composeChecked = true;
}

/** `docker compose ... config --format json` with only the variables given (plus PATH, HOME, DOCKER_CONFIG). */
function composeConfig(env: Record<string, string>): Run {
	requireDockerCompose();
	const args = ["compose", "--project-directory", ROOT, "--env-file", EMPTY_ENV_FILE, "-f", COMPOSE_FILE, "config", "--format", "json"];
	const result = spawnSync("docker", args, { cwd: ROOT, env: childEnv(env), encoding: "utf8", timeout: 60_000 });
	if (result.error) throw new Error(`\`docker ${args.join(" ")}\` could not run: ${result.error.message}`);
	return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let cached: ComposeConfig | undefined;
function loadComposeConfig(): ComposeConfig {
	if (cached) return cached;
	const run = composeConfig({ JWT_SECRET: SECRET });
	if (run.status !== 0) throw new Error(`docker compose config exited with ${run.status}:\n${run.stderr}`);
	cached = JSON.parse(run.stdout) as ComposeConfig;
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
	it("is accepted by `docker compose config` when JWT_SECRET is set", () => {
		const run = composeConfig({ JWT_SECRET: SECRET });
		expect({ status: run.status, stderr: run.status === 0 ? "" : run.stderr }).toEqual({ status: 0, stderr: "" });
		expect(() => JSON.parse(run.stdout)).not.toThrow();
	});

	it("is refused without JWT_SECRET, naming it", () => {
		for (const env of [{}, { JWT_SECRET: "" }] as Array<Record<string, string>>) {
			const run = composeConfig(env);
			expect(run.status).not.toBe(0);
			expect(run.stderr).toMatch(/JWT_SECRET/);
		}
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
			expect({ name, JWT_SECRET: env.JWT_SECRET }).toEqual({ name, JWT_SECRET: SECRET });
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

	it("hard-codes no JWT secret: the file only refers to the required variable", () => {
		const text = readFileSync(COMPOSE_FILE, "utf8");
		const assignments = text
			.split("\n")
			.filter((line) => !line.trim().startsWith("#"))
			.map((line) => /JWT_SECRET["']?\s*[:=]\s*(.*?)\s*$/.exec(line))
			.filter((match): match is RegExpExecArray => match !== null)
			.map((match) => match[1]);
		expect(assignments.length).toBeGreaterThan(0);
		for (const value of assignments) expect(value).toMatch(/^["']?\$\{JWT_SECRET:\?[^}]*\}["']?$/);
		// The shared environment is one YAML anchor, used by every application container.
		expect(text).toMatch(/^x-shop-env:\s*&\S+/m);
	});
});
