import { randomBytes } from "node:crypto";

/**
 * Every setting comes from the environment and is validated here, once, with a
 * message that names the variable. An unset server URL means "embedded": the
 * process starts a stand-in (server.ts) or, for the transporter, calls locally.
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
	accessTokenTtlSeconds: number;
	refreshTokenTtlSeconds: number;
	port: number;
	wsPort: number;
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

export function loadConfig(env: Env = process.env): AppConfig {
	const problems: string[] = [];
	const read = (name: string): string | undefined => {
		const value = env[name]?.trim();
		return value ? value : undefined;
	};

	const url = (name: string, protocols: string[]): string | undefined => {
		const value = read(name);
		if (value === undefined) return undefined;
		// RabbitMQ accepts a ";"-separated list of cluster URLs; each must be valid.
		for (const part of value.split(";").filter(Boolean)) {
			let parsed: URL;
			try {
				parsed = new URL(part);
			} catch {
				problems.push(`${name} is not a valid URL: "${part}"`);
				continue;
			}
			if (!protocols.includes(parsed.protocol)) {
				problems.push(`${name} must use ${protocols.map((p) => `${p}//`).join(" or ")}, got "${parsed.protocol}//"`);
			}
		}
		return value;
	};

	const integer = (name: string, fallback: number, min: number, max: number): number => {
		const value = read(name);
		if (value === undefined) return fallback;
		const parsed = Number(value);
		if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
			problems.push(`${name} must be an integer between ${min} and ${max}, got "${value}"`);
			return fallback;
		}
		return parsed;
	};

	const nodeEnvRaw = read("NODE_ENV") ?? "development";
	if (!["development", "production", "test"].includes(nodeEnvRaw)) {
		problems.push(`NODE_ENV must be development, production or test, got "${nodeEnvRaw}"`);
	}
	const nodeEnv = (["development", "production", "test"].includes(nodeEnvRaw) ? nodeEnvRaw : "development") as AppConfig["nodeEnv"];

	const servicesRaw = read("SERVICES");
	let services: ServiceName[] = [...ALL_SERVICES];
	if (servicesRaw) {
		const names = servicesRaw
			.split(",")
			.map((s) => s.trim())
			.filter(Boolean);
		const unknown = names.filter((n) => !(ALL_SERVICES as readonly string[]).includes(n));
		if (unknown.length) problems.push(`SERVICES names unknown services: ${unknown.join(", ")} (known: ${ALL_SERVICES.join(", ")})`);
		services = names.filter((n): n is ServiceName => (ALL_SERVICES as readonly string[]).includes(n));
		if (!services.length && !unknown.length) problems.push("SERVICES is set but lists no service");
	}

	const logLevelRaw = read("LOG_LEVEL") ?? "info";
	if (!(LOG_LEVELS as readonly string[]).includes(logLevelRaw)) {
		problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevelRaw}"`);
	}

	// A node of a cluster must share its secret with the others, and production
	// must not depend on a process's lifetime: both need JWT_SECRET set.
	const jwtSecretRaw = read("JWT_SECRET");
	const secretRequiredBy =
		nodeEnv === "production"
			? "in production"
			: read("TRANSPORTER") !== undefined
				? "when TRANSPORTER is set (every node of the cluster must share it)"
				: undefined;
	if (jwtSecretRaw === undefined && secretRequiredBy) {
		problems.push(`JWT_SECRET must be set ${secretRequiredBy}, at least ${MIN_JWT_SECRET_LENGTH} characters`);
	} else if (jwtSecretRaw !== undefined && jwtSecretRaw.length < MIN_JWT_SECRET_LENGTH) {
		problems.push(`JWT_SECRET must be at least ${MIN_JWT_SECRET_LENGTH} characters, got ${jwtSecretRaw.length}`);
	}
	const jwtSecret = jwtSecretRaw ?? PROCESS_JWT_SECRET;

	const config: AppConfig = {
		nodeEnv,
		namespace: read("NAMESPACE") ?? "shop",
		nodeId: read("NODE_ID"),
		services,
		transporterUrl: url("TRANSPORTER", ["amqp:", "amqps:"]),
		redisUrl: url("REDIS_URL", ["redis:", "rediss:"]),
		databaseUrl: url("DATABASE_URL", ["postgres:", "postgresql:"]),
		mongoUrl: url("MONGO_URL", ["mongodb:", "mongodb+srv:"]),
		jwtSecret,
		accessTokenTtlSeconds: integer("ACCESS_TOKEN_TTL_SECONDS", 15 * 60, 10, 24 * 3600),
		refreshTokenTtlSeconds: integer("REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600, 60, 365 * 24 * 3600),
		port: integer("PORT", 3000, 0, 65535),
		wsPort: integer("WS_PORT", 3001, 0, 65535),
		logLevel: ((LOG_LEVELS as readonly string[]).includes(logLevelRaw) ? logLevelRaw : "info") as LogLevel,
		adminEmail: read("ADMIN_EMAIL"),
		adminPassword: read("ADMIN_PASSWORD"),
		logsFlushIntervalMs: integer("LOGS_FLUSH_INTERVAL_MS", 1000, 50, 3_600_000),
		dependencyWaitSeconds: integer("DEPENDENCY_WAIT_SECONDS", 30, 1, 3600),
		// Longer than any order.create can take between reserving and recording (its calls time out after 10 s).
		reservationGraceSeconds: integer("RESERVATION_GRACE_SECONDS", 120, 1, 24 * 3600),
	};

	// Production needs real stores; it may run as one process without a
	// transporter (calls in process are not a stand-in for anything).
	if (nodeEnv === "production") {
		const missing = (
			[
				["REDIS_URL", config.redisUrl],
				["DATABASE_URL", config.databaseUrl],
				["MONGO_URL", config.mongoUrl],
			] as const
		).filter(([, value]) => !value);
		for (const [name] of missing) problems.push(`${name} must be set in production (embedded stand-ins are for development only)`);
	}
	if (config.adminPassword !== undefined && config.adminPassword.length < 8) {
		problems.push("ADMIN_PASSWORD must be at least 8 characters");
	}

	if (problems.length) throw new ConfigError(problems);
	return config;
}
