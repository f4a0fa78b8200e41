import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { Redis } from "ioredis";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { callAction } from "../shared/call-action.js";
import {
	AuthActions,
	LogsActions,
	OrderActions,
	PaymentActions,
	ProductActions,
	type AuthUser,
	type CallParamsOf,
	type RequestMeta,
} from "../shared/contracts.js";
import { AuthRateLimits } from "../shared/auth-rate-limits.js";
import { ShopClientError, TooManyRequestsError, UnsupportedMediaTypeError } from "../shared/errors.js";
import { checkReadiness, ReadinessLog } from "../shared/health.js";
import { permissionError, type Permission } from "../shared/middlewares/permissions.middleware.js";
import type { ShopService, ShopServiceSettings } from "../shared/service-settings.js";
import { bearerToken, verifyAccessToken } from "../shared/tokens.js";
import { inputProblems } from "../shared/input-guard.js";
import { fieldsError, publicFieldProblems } from "../shared/validation.js";

type GatewayRequest = IncomingMessage & {
	$ctx?: Context<unknown, RequestMeta>;
	$action?: { name: string };
	$params?: Record<string, unknown>;
	originalUrl?: string;
};

type ApiThis = ShopService & {
	readinessLog: ReadinessLog;
	rateLimits: AuthRateLimits;
	/** Its own connection, for the rate limits; none without REDIS_URL. */
	redis?: Redis;
	trackAccess(req: GatewayRequest, res: ServerResponse): void;
	limitCredentialRequests(req: GatewayRequest): Promise<void>;
};

/** The routes that guess or spend credentials: limited per client address, and log-in per account too. */
const CREDENTIAL_ACTIONS = new Set<string>([AuthActions.login.name, AuthActions.register.name, AuthActions.refresh.name]);

const loginEmail = (req: GatewayRequest) => String(req.$params?.email ?? "");

/** The services this gateway routes to: readiness fails while one has no live node. */
const ROUTED_SERVICES = ["auth", "product", "order", "payment", "logs"];
const REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface ErrorBody {
	error: { code: string; message: string; details?: unknown; requestId?: string };
}

/**
 * On every answer. The API answers JSON only: nothing is to be sniffed as
 * another type or framed, and nothing is to be kept by a browser or a proxy
 * (tokens, orders and profiles are someone's; whether catalog reads may be
 * cached publicly is a decision of its own, not made yet).
 */
const SECURITY_HEADERS = {
	"X-Content-Type-Options": "nosniff",
	"Cache-Control": "no-store",
	"X-Frame-Options": "DENY",
	"Referrer-Policy": "no-referrer",
};

const UNAVAILABLE = { status: 503, body: { code: "SERVICE_UNAVAILABLE", message: "A service needed for this request is unavailable; try again shortly" } };

/** Maps any error to the public error body; a 5xx never carries the cause. */
export function toErrorResponse(err: Error & { code?: unknown; type?: string; status?: number; data?: unknown }): { status: number; body: ErrorBody["error"] } {
	if (err.type === "entity.parse.failed") return { status: 400, body: { code: "MALFORMED_JSON", message: "The request body is not valid JSON" } };
	if (err.type === "entity.too.large") return { status: 413, body: { code: "PAYLOAD_TOO_LARGE", message: "The request body is too large" } };
	// zlib's refusal of a body that its Content-Encoding does not describe (gzip that is not gzip).
	if (typeof err.code === "string" && err.code.startsWith("Z_")) {
		return { status: 400, body: { code: "MALFORMED_BODY", message: "The request body could not be decoded as its Content-Encoding says" } };
	}
	// body-parser's refusals of a JSON body in a charset or encoding it cannot read.
	if (err.type === "charset.unsupported" || err.type === "encoding.unsupported") {
		return { status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE", message: "Send the request body as UTF-8 JSON, uncompressed" } };
	}
	switch (err.name) {
		case "ValidationError": {
			const details = publicFieldProblems(err.data);
			const fields = [...new Set(details.map((d) => d.field))];
			const message = fields.length ? `Invalid or missing fields: ${fields.join(", ")}` : "The request has invalid or missing fields";
			return { status: 422, body: { code: "VALIDATION_ERROR", message, details } };
		}
		case "NotFoundError":
			if (err.type === "NOT_FOUND") return { status: 404, body: { code: "ROUTE_NOT_FOUND", message: "No such route" } };
			break;
		case "UnAuthorizedError":
			return { status: 401, body: { code: "UNAUTHORIZED", message: "Log in to do this" } };
		// No live node runs the service (moleculer-web's own error for an alias
		// whose action is gone), or this node lost the transporter.
		case "ServiceNotFoundError":
		case "ServiceNotAvailableError":
		case "ServiceUnavailableError":
		case "BrokerDisconnectedError":
			return UNAVAILABLE;
		case "RequestTimeoutError":
			return { status: 504, body: { code: "TIMEOUT", message: "The request took too long; try again shortly" } };
	}
	const status = typeof err.code === "number" ? err.code : 500;
	if (status >= 400 && status < 500 && (err instanceof ShopClientError || typeof err.type === "string")) {
		return { status, body: { code: err.type ?? "BAD_REQUEST", message: err.message, details: err.data } };
	}
	// Whatever says 503 (a service whose database is unreachable): the same
	// public answer, never the message, which names hosts and drivers.
	if (status === 503) return UNAVAILABLE;
	return { status: 500, body: { code: "INTERNAL_ERROR", message: "Something went wrong on our side" } };
}

/** A request carries a body when it says so (RFC 9112: a length above 0, or chunked). */
const hasBody = (req: IncomingMessage) => req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;

/** What the JSON body parser reads; a body of any other type would reach the action as no params at all. */
const isJson = (req: IncomingMessage) => (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase() === "application/json";

/**
 * Where what a 201 created can be read, under the gateway's path, by the
 * action that created it: moleculer-web warns and sends no Location unless
 * `ctx.meta.$location` is set. The gateway sets it because it owns the public
 * paths; the services know none.
 */
const CREATED_LOCATIONS: Record<string, (created: { id?: string }) => string> = {
	[ProductActions.create.name]: (product) => `/products/${product.id}`,
	[OrderActions.create.name]: (order) => `/orders/${order.id}`,
	[AuthActions.register.name]: () => "/auth/me",
};

const ApiService: ServiceSchema<ServiceSettingSchema, ApiThis> = {
	name: "api",

	mixins: [ApiGateway],

	settings: {
		ip: "0.0.0.0",
		path: "/api",
		logRequest: "debug",
		logResponse: "debug",
		logRequestParams: null,
		logResponseData: null,

		// A client's X-Request-ID is kept when it is sane, so its own logs and
		// ours line up; otherwise the gateway makes one.
		rootCallOptions(options: { requestID?: string }, req: IncomingMessage) {
			const given = req.headers["x-request-id"];
			options.requestID = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
		},

		routes: [
			{
				path: "/health",
				mappingPolicy: "restrict",
				authentication: false,
				aliases: {
					"GET live": "api.live",
					"GET ready": "api.ready",
				},
			},
			{
				path: "/",
				mappingPolicy: "restrict",
				authentication: true,
				authorization: true,
				bodyParsers: { json: { strict: true, limit: "100kb" }, urlencoded: false },
				// Every route a client can call. Who may call it is declared on the
				// action (`permissions`) and checked where the action runs.
				aliases: {
					"POST auth/register": AuthActions.register.name,
					"POST auth/login": AuthActions.login.name,
					"POST auth/refresh": AuthActions.refresh.name,
					"POST auth/logout": AuthActions.logout.name,
					"GET auth/me": AuthActions.me.name,

					"GET products": ProductActions.list.name,
					"GET products/:id": ProductActions.get.name,
					"POST products": ProductActions.create.name,

					"GET orders": OrderActions.list.name,
					"GET orders/:id": OrderActions.get.name,
					"POST orders": OrderActions.create.name,

					"GET payments": PaymentActions.list.name,

					"GET logs": LogsActions.list.name,
				},
				async onBeforeCall(this: ApiThis, ctx: Context<unknown, RequestMeta>, _route: unknown, req: GatewayRequest) {
					// An unparsed body is no params: without this, a form or text body
					// would be answered with "'email' field is required".
					if (hasBody(req) && !isJson(req)) throw new UnsupportedMediaTypeError();
					// What no action takes, refused here for every route before any validator or store sees it.
					const problems = inputProblems(req.$params);
					if (problems.length) throw fieldsError(problems);
					await this.limitCredentialRequests(req);
					const key = req.headers["idempotency-key"];
					if (key === undefined) return;
					if (typeof key !== "string" || !/^[\x21-\x7e]{1,255}$/.test(key)) {
						throw new ShopClientError("Idempotency-Key must be 1 to 255 printable ASCII characters", 400, "INVALID_IDEMPOTENCY_KEY");
					}
					ctx.meta.idempotencyKey = key;
				},
				async onAfterCall(
					this: ApiThis,
					ctx: Context<unknown, RequestMeta>,
					_route: unknown,
					req: GatewayRequest,
					_res: ServerResponse,
					data: unknown,
				) {
					if (req.$action?.name === AuthActions.login.name) await this.rateLimits.loginSucceeded(loginEmail(req));
					const location = CREATED_LOCATIONS[req.$action?.name ?? ""];
					if (ctx.meta.$statusCode === 201 && location) ctx.meta.$location = `${this.settings.path}${location(data as { id?: string })}`;
					return data;
				},
			},
		],

		onError(this: ApiThis, req: GatewayRequest, res: ServerResponse, err: Error) {
			const { status, body } = toErrorResponse(err);
			// A bug is an error, with its stack; an outage (503, 504) is a warning
			// of one line: readiness names the dependency that is down.
			if (status === 500) this.logger.error(`${req.method} ${req.originalUrl ?? req.url} failed:`, err);
			else if (status > 500) this.logger.warn(`${req.method} ${req.originalUrl ?? req.url} answered ${status}: ${err.name}: ${err.message}`);
			const requestId = req.$ctx?.requestID ?? (res.getHeader("X-Request-ID") as string | undefined);
			res.statusCode = status;
			res.setHeader("Content-Type", "application/json; charset=utf-8");
			if (status === 401) res.setHeader("WWW-Authenticate", "Bearer");
			if (err instanceof TooManyRequestsError) res.setHeader("Retry-After", String(err.retryAfterSeconds));
			res.end(JSON.stringify({ error: { ...body, requestId } } satisfies ErrorBody));
		},
	},

	actions: {
		live: {
			params: {},
			handler(this: ApiThis) {
				// Nothing about the host: anyone may ask.
				return { status: "ok", uptimeSeconds: Math.round(process.uptime()) };
			},
		},

		ready: {
			params: {},
			async handler(this: ApiThis, ctx: Context<unknown, RequestMeta>) {
				const readiness = await checkReadiness(ctx, ROUTED_SERVICES);
				// The reasons (hosts, ports, driver messages) go to the log, not to an anonymous caller.
				this.readinessLog.record(readiness);
				const { ready, checks } = readiness;
				ctx.meta.$statusCode = ready ? 200 : 503;
				return { status: ready ? "ok" : "unavailable", checks };
			},
		},
	},

	methods: {
		// moleculer-web's own logs every 5xx again, as an error with its stack;
		// onError above logs each failure once, at the level it deserves.
		errorHandler(this: ApiThis, req: GatewayRequest, res: ServerResponse, err: Error) {
			(this as ApiThis & { sendError(req: GatewayRequest, res: ServerResponse, err: Error): void }).sendError(req, res, err);
		},

		async authenticate(this: ApiThis, _ctx: Context, _route: unknown, req: IncomingMessage): Promise<AuthUser | null> {
			const header = req.headers.authorization;
			if (!header) return null;
			const token = bearerToken(header);
			if (!token) throw new ShopClientError("Authorization must be 'Bearer <accessToken>'", 401, "INVALID_TOKEN");
			const { jwtSecret, accessTokenTtlSeconds } = this.settings.config;
			return verifyAccessToken(token, jwtSecret, accessTokenTtlSeconds);
		},

		// The action's own `permissions`, checked before the call: the action's
		// node checks them again (PermissionsMiddleware), but only after
		// Moleculer's validator and cacher have run.
		async authorize(
			this: ApiThis,
			ctx: Context<unknown, RequestMeta>,
			_route: unknown,
			req: IncomingMessage & { $action?: { permissions?: Permission[] } },
		) {
			const refused = permissionError(req.$action?.permissions, ctx.meta.user);
			if (refused) throw refused;
		},

		// Every request, routed or not, ends in one access log entry handed to
		// the logs service (which buffers it in Redis), and every answer carries
		// the security headers.
		httpHandler(this: ApiThis, req: GatewayRequest, res: ServerResponse, next?: (err?: unknown) => void) {
			this.trackAccess(req, res);
			for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
			return (ApiGateway.methods!.httpHandler as (...args: unknown[]) => unknown).call(this, req, res, next);
		},

		async limitCredentialRequests(this: ApiThis, req: GatewayRequest) {
			const action = req.$action?.name;
			if (!action || !CREDENTIAL_ACTIONS.has(action)) return;
			// The socket's address: X-Forwarded-For is whatever the client writes.
			await this.rateLimits.admitRequest(req.socket.remoteAddress ?? "unknown");
			if (action === AuthActions.login.name) await this.rateLimits.admitLogin(loginEmail(req));
		},

		trackAccess(this: ApiThis, req: GatewayRequest, res: ServerResponse) {
			const started = process.hrtime.bigint();
			// Bounded like the column it goes to, so a long URL still leaves a log entry.
			const path = (req.url ?? "").split("?")[0].slice(0, 2048);
			res.once("finish", () => {
				const entry: CallParamsOf<typeof LogsActions.record> = {
					requestId: req.$ctx?.requestID ?? String(res.getHeader("X-Request-ID") ?? "none"),
					method: req.method ?? "GET",
					path,
					status: res.statusCode,
					durationMs: Number(process.hrtime.bigint() - started) / 1e6,
					userId: req.$ctx?.meta.user?.id ?? null,
					ip: req.socket.remoteAddress ?? null,
					at: new Date().toISOString(),
				};
				// Before any logs node has joined, the entry is dropped here, quietly:
				// calling an unknown action makes Moleculer warn on every request.
				if (!(this.broker.registry as unknown as { hasService(name: string): boolean }).hasService("logs"))
					return this.logger.debug("Access log not recorded: no logs node yet");
				callAction(this, LogsActions.record, entry).catch((err: Error) => this.logger.debug("Access log not recorded:", err.message));
			});
		},
	},

	// moleculer-web listens on settings.port (in its `started`); the port is the config's.
	merged(schema: ServiceSchema<ShopServiceSettings>) {
		schema.settings!.port = schema.settings!.config.port;
	},

	created(this: ApiThis) {
		this.readinessLog = new ReadinessLog(this.logger);
		const { redisUrl, namespace, loginAttemptsPerAccount, loginWindowSeconds, authRequestsPerMinute } = this.settings.config;
		if (redisUrl) {
			// Fail fast while Redis is down (the limits count in memory then), and reconnect quietly.
			this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 });
			this.redis.on("error", () => undefined);
		}
		this.rateLimits = new AuthRateLimits({ namespace, redis: this.redis, loginAttemptsPerAccount, loginWindowSeconds, authRequestsPerMinute });
		// moleculer-web 0.10 only logs a listen error (a port in use), so its
		// start never settles and the process hangs half started. Hand the error
		// to its listen callback instead, which fails the start.
		const server = this.server as Server;
		const listen = server.listen.bind(server) as (port: number, host: string, callback: (err?: Error) => void) => Server;
		server.listen = ((port: number, host: string, callback: (err?: Error) => void) => {
			const onError = (err: Error) => callback(err);
			server.once("error", onError);
			return listen(port, host, () => {
				server.off("error", onError);
				callback();
			});
		}) as Server["listen"];
	},

	stopped(this: ApiThis) {
		this.redis?.disconnect();
	},
};

export default ApiService;
