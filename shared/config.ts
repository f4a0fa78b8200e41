import { randomBytes } from "node:crypto";
import { customCleanEnv, makeValidator, str } from "envalid";
import { CLUSTER_SECRET_MIN_LENGTH, type ClusterSecrets } from "./cluster-secret.js";

/**
 * Every setting comes from the environment and is declared here once (with
 * envalid: its type, default, bounds and meaning), then validated with a
 * message that names the variable. Only an entry point loads it, once
 * (server.ts, the CLI's admin:create, moleculer.config.ts's default export);
 * services get it in their settings (shared/service-settings.ts). An unset
 * server URL means "embedded": the process starts a stand-in (server.ts) or,
 * for the transporter, calls locally.
 */

export const ALL_SERVICES = ["api", "auth", "product", "order", "payment", "logs", "websocket"] as const;
export type ServiceName = (typeof ALL_SERVICES)[number];

export const MIN_JWT_SECRET_LENGTH = 32;

/**
 * The JWT secret of a process that runs everything itself (no TRANSPORTER, not
 * production) and was given none: random, made once per process, so every
 * service in it and every loadConfig() call agree, and no token outlives the
 * process. Never a value in the repository, which anyone could sign with.
 */
const PROCESS_JWT_SECRET = randomBytes(48).toString("base64url");

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const NODE_ENVS = ["development", "production", "test"] as const;

export interface AppConfig {
	nodeEnv: "development" | "production" | "test";
	namespace: string;
	nodeId?: string;
	services: ServiceName[];
	/** AMQP URL of RabbitMQ; undefined runs every call in process. */
	transporterUrl?: string;
	redisUrl?: string;
	databaseUrl?: string;
	mongoUrl?: string;
	jwtSecret: string;
	/** Set exactly when transporterUrl is: what makes this process a member of the cluster (shared/cluster-secret.ts). */
	clusterSecrets?: ClusterSecrets;
	accessTokenTtlSeconds: number;
	/** Log-in attempts on one account per loginWindowSeconds before the next is refused (429). */
	loginAttemptsPerAccount: number;
	loginWindowSeconds: number;
	/** Log-in, registration and refresh requests from one client address per minute (429 beyond). */
	authRequestsPerMinute: number;
	refreshTokenTtlSeconds: number;
	port: number;
	wsPort: number;
	/** Web origins whose pages may open a socket.io connection; none by default. */
	corsOrigins: readonly string[];
	logLevel: LogLevel;
	adminEmail?: string;
	adminPassword?: string;
	logsFlushIntervalMs: number;
	/** How long a starting node waits for its PostgreSQL and MongoDB before it gives up. */
	dependencyWaitSeconds: number;
	/** How old an unconfirmed reservation must be before the product service asks whether its order exists. */
	reservationGraceSeconds: number;
}

export class ConfigError extends Error {
	constructor(readonly problems: string[]) {
		super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
		this.name = "ConfigError";
	}
}

type Env = Record<string, string | undefined>;

/** A variable's problems, each a phrase that follows its name in ConfigError's message. */
class VariableProblems extends Error {
	constructor(readonly problems: string[]) {
		super(problems.join("; "));
	}
}

const refuse = (...problems: string[]): never => {
	throw new VariableProblems(problems);
};

/** An integer from `min` to `max`. */
const integer = (min: number, max: number) =>
	makeValidator<number>((raw) => {
		const value = Number(raw);
		return Number.isInteger(value) && value >= min && value <= max ? value : refuse(`must be an integer between ${min} and ${max}, got "${raw}"`);
	});

/** One of `values`. */
const oneOf = <T extends string>(values: readonly T[], described = `one of ${values.join(", ")}`) =>
	makeValidator<T>((raw) => ((values as readonly string[]).includes(raw) ? (raw as T) : refuse(`must be ${described}, got "${raw}"`)));

/** At least `min` characters; a password's message does not tell its length. */
const atLeast = (min: number, { tellLength }: { tellLength: boolean }) =>
	makeValidator<string>((raw) => (raw.length >= min ? raw : refuse(`must be at least ${min} characters${tellLength ? `, got ${raw.length}` : ""}`)));

function urlProblems(value: string, protocols: string[]): string[] {
	let parsed: URL;
	try {
		parsed = new URL(value);
	} catch {
		return [`is not a valid URL: "${value}"`];
	}
	return protocols.includes(parsed.protocol) ? [] : [`must use ${protocols.map((p) => `${p}//`).join(" or ")}, got "${parsed.protocol}//"`];
}

/** A URL with one of `protocols`. */
const url = (protocols: string[]) =>
	makeValidator<string>((raw) => {
		const problems = urlProblems(raw, protocols);
		return problems.length ? refuse(...problems) : raw;
	});

/** RabbitMQ takes a ";"-separated list of a cluster's URLs; each must be valid. */
const urlList = (protocols: string[]) =>
	makeValidator<string>((raw) => {
		const problems = raw
			.split(";")
			.filter(Boolean)
			.flatMap((part) => urlProblems(part, protocols));
		return problems.length ? refuse(...problems) : raw;
	});

const isServiceName = (name: string): name is ServiceName => (ALL_SERVICES as readonly string[]).includes(name);

/** The items of a comma list, trimmed; empty items are not items. */
const commaList = (raw: string): string[] =>
	raw
		.split(",")
		.map((item) => item.trim())
		.filter(Boolean);

/** A comma list of known services, as moleculer-runner takes it. */
const serviceList = makeValidator<readonly ServiceName[]>((raw) => {
	const names = commaList(raw);
	const unknown = names.filter((name) => !isServiceName(name));
	if (unknown.length) refuse(`names unknown services: ${unknown.join(", ")} (known: ${ALL_SERVICES.join(", ")})`);
	return names.length ? names.filter(isServiceName) : refuse("is set but lists no service");
});

/** A comma list of web origins (scheme, host and port, nothing more). */
const originList = makeValidator<readonly string[]>((raw) => {
	const origins = commaList(raw);
	const bad = origins.filter((origin) => !URL.canParse(origin) || new URL(origin).origin !== origin);
	return bad.length ? refuse(`must list origins such as https://shop.example.com, got ${bad.map((origin) => `"${origin}"`).join(", ")}`) : origins;
});

/** A comma list of secrets, each at least `min` characters (their lengths are not told). */
const secretList = (min: number) =>
	makeValidator<readonly string[]>((raw) => {
		const secrets = commaList(raw);
		return secrets.every((secret) => secret.length >= min) ? secrets : refuse(`must list secrets of at least ${min} characters each`);
	});

/** Every variable, once. The rules that tie several together are the functions below. */
const variables = {
	NODE_ENV: oneOf(NODE_ENVS, "development, production or test")({ default: "development", desc: "production requires JWT_SECRET and real stores" }),
	NAMESPACE: str({ default: "shop", desc: "Moleculer namespace; also prefixes Redis keys and RabbitMQ queues" }),
	NODE_ID: str({ default: undefined, desc: "Moleculer node id; Moleculer's hostname-pid when unset" }),
	SERVICES: serviceList({ default: ALL_SERVICES, desc: "the services this process runs", example: "api,order" }),
	TRANSPORTER: urlList(["amqp:", "amqps:"])({
		default: undefined,
		desc: "RabbitMQ, where every node of the cluster meets; unset, calls stay in process",
		example: "amqp://user:pass@host:5672",
	}),
	REDIS_URL: url(["redis:", "rediss:"])({
		default: undefined,
		desc: "the cacher and the access log buffer; unset, both in memory",
		example: "redis://host:6379",
	}),
	DATABASE_URL: url(["postgres:", "postgresql:"])({
		default: undefined,
		desc: "PostgreSQL; unset, server.ts starts an embedded one",
		example: "postgres://user@host:5432/shop",
	}),
	MONGO_URL: url(["mongodb:", "mongodb+srv:"])({
		default: undefined,
		desc: "the catalog's MongoDB; unset, server.ts starts jongodb",
		example: "mongodb://host:27017/shop",
	}),
	JWT_SECRET: atLeast(MIN_JWT_SECRET_LENGTH, { tellLength: true })({
		default: PROCESS_JWT_SECRET,
		desc: "signs and verifies access tokens; the random default only where jwtSecretRule allows it",
	}),
	CLUSTER_SECRET: atLeast(CLUSTER_SECRET_MIN_LENGTH, { tellLength: true })({
		default: undefined,
		desc: "seals every packet between the nodes and signs the durable messages; required with TRANSPORTER",
	}),
	CLUSTER_SECRET_PREVIOUS: secretList(CLUSTER_SECRET_MIN_LENGTH)({
		default: [],
		desc: "secrets still accepted besides CLUSTER_SECRET, during a rotation",
		example: "old-secret,newer-secret",
	}),
	ACCESS_TOKEN_TTL_SECONDS: integer(10, 24 * 3600)({ default: 15 * 60, desc: "access token lifetime" }),
	LOGIN_ATTEMPTS_PER_ACCOUNT: integer(1, 1000)({ default: 5, desc: "log-in attempts on one account per LOGIN_WINDOW_SECONDS; a success starts again" }),
	LOGIN_WINDOW_SECONDS: integer(1, 24 * 3600)({ default: 15 * 60, desc: "the window of LOGIN_ATTEMPTS_PER_ACCOUNT" }),
	AUTH_REQUESTS_PER_MINUTE: integer(1, 1_000_000)({ default: 20, desc: "log-in, registration and refresh requests from one client address per minute" }),
	REFRESH_TOKEN_TTL_SECONDS: integer(60, 365 * 24 * 3600)({ default: 30 * 24 * 3600, desc: "refresh token lifetime" }),
	PORT: integer(0, 65535)({ default: 3000, desc: "HTTP API port" }),
	WS_PORT: integer(0, 65535)({ default: 3001, desc: "socket.io port" }),
	CORS_ORIGINS: originList({ default: [], desc: "web origins whose pages may connect to socket.io", example: "https://shop.example.com" }),
	LOG_LEVEL: oneOf(LOG_LEVELS)({ default: "info", desc: "the broker's log level" }),
	ADMIN_EMAIL: str({ default: undefined, desc: "the admin an embedded start creates; server.ts uses admin@shop.local when unset" }),
	ADMIN_PASSWORD: atLeast(8, { tellLength: false })({ default: undefined, desc: "that admin's password; generated when unset" }),
	LOGS_FLUSH_INTERVAL_MS: integer(50, 3_600_000)({ default: 1000, desc: "how often buffered access logs move to PostgreSQL" }),
	DEPENDENCY_WAIT_SECONDS: integer(1, 3600)({ default: 30, desc: "how long a starting node waits for its PostgreSQL and MongoDB" }),
	// Longer than any order.create can take between reserving and recording (its calls time out after 10 s).
	RESERVATION_GRACE_SECONDS: integer(1, 24 * 3600)({ default: 120, desc: "when the sweep asks about an unconfirmed reservation's order" }),
};

type VariableName = keyof typeof variables;
/** What the environment gives, trimmed; empty is unset. */
type Given = Record<VariableName, string | undefined>;

/**
 * A node of a cluster must share its secret with the others, and production
 * must not depend on a process's lifetime: both need JWT_SECRET set.
 */
function jwtSecretRule(given: Given, nodeEnv: AppConfig["nodeEnv"]): string[] {
	if (given.JWT_SECRET !== undefined) return [];
	const requiredBy =
		nodeEnv === "production"
			? "in production"
			: given.TRANSPORTER !== undefined
				? "when TRANSPORTER is set (every node of the cluster must share it)"
				: undefined;
	return requiredBy ? [`JWT_SECRET must be set ${requiredBy}, at least ${MIN_JWT_SECRET_LENGTH} characters`] : [];
}

/**
 * Holding the cluster secret is what makes a process a member of the cluster
 * (docs/architecture.md, the cluster's trust boundary): every node that joins
 * one needs it, and it must not be the JWT secret, which has another purpose
 * and other holders.
 */
function clusterSecretRule(given: Given): string[] {
	if (given.TRANSPORTER === undefined) return [];
	if (given.CLUSTER_SECRET === undefined) {
		return [
			`CLUSTER_SECRET must be set when TRANSPORTER is set (every node of the cluster must share it), at least ${CLUSTER_SECRET_MIN_LENGTH} characters`,
		];
	}
	return given.CLUSTER_SECRET === given.JWT_SECRET ? ["CLUSTER_SECRET must differ from JWT_SECRET"] : [];
}

/** RabbitMQ's guest user (also what a URL without credentials logs in as) is for a developer's own machine. */
function rabbitUserRule(given: Given, nodeEnv: AppConfig["nodeEnv"]): string[] {
	if (nodeEnv !== "production" || given.TRANSPORTER === undefined) return [];
	const users = given.TRANSPORTER.split(";")
		.filter(Boolean)
		.map((url) => URL.canParse(url) && decodeURIComponent(new URL(url).username));
	return users.some((user) => user === "" || user === "guest")
		? ["TRANSPORTER must name a RabbitMQ user of its own in production, not guest (nor leave the user out, which means guest)"]
		: [];
}

/** Production needs real stores; it may run as one process without a transporter (calls in process are not a stand-in for anything). */
function productionStoresRule(given: Given, nodeEnv: AppConfig["nodeEnv"]): string[] {
	if (nodeEnv !== "production") return [];
	const stores = ["REDIS_URL", "DATABASE_URL", "MONGO_URL"] as const;
	return stores.filter((name) => given[name] === undefined).map((name) => `${name} must be set in production (embedded stand-ins are for development only)`);
}

function problemsOf(errors: Partial<Record<string, Error>>): string[] {
	return Object.entries(errors).flatMap(([name, err]) =>
		err instanceof VariableProblems ? err.problems.map((problem) => `${name} ${problem}`) : [`${name}: ${err!.message}`],
	);
}

/** The configuration in `env` (the entry points pass process.env), or a ConfigError naming every bad variable. */
export function loadConfig(env: Env): AppConfig {
	const given = Object.fromEntries(Object.keys(variables).map((name) => [name, env[name]?.trim() || undefined])) as Given;
	const problems: string[] = [];
	// No middleware: the values go into AppConfig, not through envalid's proxy.
	const vars = customCleanEnv(given, variables, (cleaned) => cleaned, { reporter: ({ errors }) => problems.push(...problemsOf(errors)) });
	// A bad NODE_ENV is reported above; the rules then judge as in development.
	const nodeEnv = vars.NODE_ENV ?? "development";
	problems.push(...jwtSecretRule(given, nodeEnv), ...clusterSecretRule(given), ...rabbitUserRule(given, nodeEnv), ...productionStoresRule(given, nodeEnv));
	if (problems.length) throw new ConfigError(problems);
	return {
		nodeEnv,
		namespace: vars.NAMESPACE,
		nodeId: vars.NODE_ID,
		services: [...vars.SERVICES],
		transporterUrl: vars.TRANSPORTER,
		redisUrl: vars.REDIS_URL,
		databaseUrl: vars.DATABASE_URL,
		mongoUrl: vars.MONGO_URL,
		jwtSecret: vars.JWT_SECRET,
		clusterSecrets: vars.TRANSPORTER ? { secret: vars.CLUSTER_SECRET!, previousSecrets: [...vars.CLUSTER_SECRET_PREVIOUS] } : undefined,
		accessTokenTtlSeconds: vars.ACCESS_TOKEN_TTL_SECONDS,
		loginAttemptsPerAccount: vars.LOGIN_ATTEMPTS_PER_ACCOUNT,
		loginWindowSeconds: vars.LOGIN_WINDOW_SECONDS,
		authRequestsPerMinute: vars.AUTH_REQUESTS_PER_MINUTE,
		refreshTokenTtlSeconds: vars.REFRESH_TOKEN_TTL_SECONDS,
		port: vars.PORT,
		wsPort: vars.WS_PORT,
		corsOrigins: vars.CORS_ORIGINS,
		logLevel: vars.LOG_LEVEL,
		adminEmail: vars.ADMIN_EMAIL,
		adminPassword: vars.ADMIN_PASSWORD,
		logsFlushIntervalMs: vars.LOGS_FLUSH_INTERVAL_MS,
		dependencyWaitSeconds: vars.DEPENDENCY_WAIT_SECONDS,
		reservationGraceSeconds: vars.RESERVATION_GRACE_SECONDS,
	};
}
