import { randomUUID } from "node:crypto";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt } from "jose";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Server as SocketServer } from "socket.io";
import {
	Events,
	WebsocketActions,
	type AuthUser,
	type Notification,
	type OrderStatusEvent,
	type PaymentStatusEvent,
	type ProductAvailabilityEvent,
	type ResultOf,
} from "../../shared/contracts.js";
import { HealthMixin, registerHealthProbe } from "../../shared/health.js";
import type { ShopService } from "../../shared/service-settings.js";
import { verifyAccessToken } from "../../shared/tokens.js";

type WebsocketThis = ShopService & {
	http: HttpServer;
	io: SocketServer;
	notify<T>(rooms: string[], event: string, data: T): void;
};

export const rooms = {
	user: (userId: string) => `user:${userId}`,
	admins: "admins",
};

/**
 * Delivers notifications to people over socket.io. A client authenticates in
 * the handshake with its access token (`auth: { token }`); a shopper joins its
 * own room, an admin also joins the admins' room.
 */
const WebsocketService: ServiceSchema<ServiceSettingSchema, WebsocketThis> = {
	name: "websocket",

	mixins: [HealthMixin],

	actions: {
		info: {
			params: WebsocketActions.info.params,
			handler(this: WebsocketThis): ResultOf<typeof WebsocketActions.info> {
				return { port: (this.http.address() as AddressInfo).port, connections: this.io.engine.clientsCount };
			},
		},
	},

	events: {
		[Events.orderStatus]: {
			handler(this: WebsocketThis, ctx: Context<OrderStatusEvent>) {
				this.notify([rooms.user(ctx.params.userId), rooms.admins], Events.orderStatus, ctx.params);
			},
		},
		[Events.paymentStatus]: {
			handler(this: WebsocketThis, ctx: Context<PaymentStatusEvent>) {
				this.notify([rooms.user(ctx.params.userId), rooms.admins], Events.paymentStatus, ctx.params);
			},
		},
		[Events.productUnavailable]: {
			handler(this: WebsocketThis, ctx: Context<ProductAvailabilityEvent>) {
				this.notify([rooms.admins], Events.productUnavailable, ctx.params);
			},
		},
		[Events.productBackInStock]: {
			handler(this: WebsocketThis, ctx: Context<ProductAvailabilityEvent>) {
				this.notify([rooms.admins], Events.productBackInStock, ctx.params);
			},
		},
	},

	methods: {
		notify<T>(this: WebsocketThis, targetRooms: string[], event: string, data: T) {
			const notification: Notification<T> = { id: randomUUID(), event, data, at: new Date().toISOString() };
			this.io.to(targetRooms).emit(event, notification);
		},
	},

	created(this: WebsocketThis) {
		// socket.io answers its own path; anything else on this port is answered here, not left hanging.
		this.http = createServer((_req, res) => {
			res.writeHead(404, { "Content-Type": "application/json; charset=utf-8", "X-Content-Type-Options": "nosniff" });
			res.end(JSON.stringify({ error: { code: "ROUTE_NOT_FOUND", message: "No such route: socket.io listens on /socket.io/" } }));
		});
		// Browsers on other origins may connect only when CORS_ORIGINS names them; Node clients send no Origin.
		const { corsOrigins } = this.settings.config;
		this.io = new SocketServer(this.http, { serveClient: false, cors: { origin: corsOrigins.length ? [...corsOrigins] : false } });
		this.io.use((socket, next) => {
			const token = socket.handshake.auth?.token;
			if (typeof token !== "string" || !token) return next(new Error("UNAUTHORIZED"));
			verifyAccessToken(token, this.settings.config.jwtSecret, this.settings.config.accessTokenTtlSeconds)
				.then((user) => {
					socket.data.user = user;
					// Verified, so its expiry can be read as it is.
					socket.data.expiresAt = decodeJwt(token).exp! * 1000;
					next();
				})
				.catch(() => next(new Error("INVALID_TOKEN")));
		});
		this.io.on("connection", (socket) => {
			const user = socket.data.user as AuthUser;
			void socket.join(user.role === "admin" ? [rooms.user(user.id), rooms.admins] : [rooms.user(user.id)]);
			// A connection lives no longer than the token it was opened with; the client reconnects with a fresh one.
			const expiry = setTimeout(() => socket.disconnect(true), Math.max(0, (socket.data.expiresAt as number) - Date.now()));
			socket.once("disconnect", () => clearTimeout(expiry));
		});
		registerHealthProbe(this, "socket.io", async () => {
			if (!this.http.listening) throw new Error("not listening");
		});
	},

	async started(this: WebsocketThis) {
		await new Promise<void>((resolve, reject) => {
			this.http.once("error", reject);
			this.http.listen(this.settings.config.wsPort, () => resolve());
		});
		this.logger.info(`socket.io listening on port ${(this.http.address() as AddressInfo).port}`);
	},

	async stopped(this: WebsocketThis) {
		await new Promise<void>((resolve) => this.io.close(() => resolve()));
	},
};

export default WebsocketService;
