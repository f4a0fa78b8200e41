import { io, type Socket } from "socket.io-client";
import { ApiClient, ApiError, DEFAULT_API_URL } from "../client/api-client.js";
import {
	Events,
	type Notification,
	type OrderPage,
	type OrderStatusEvent,
	type PaymentStatusEvent,
	type ProductAvailabilityEvent,
	type ProductPage,
	type PublicUser,
} from "../shared/contracts.js";

/**
 * Everything the backoffice reads from the system, in one place: the HTTP API
 * (through client/, the API client it shares with the CLI) and the socket.io
 * notifications.
 */

export const DEFAULT_WS_URL = "http://localhost:3001";

/** The notifications the live feed shows: every one an admin receives. */
export const FEED_EVENTS = [Events.orderStatus, Events.paymentStatus, Events.productUnavailable, Events.productBackInStock] as const;

export type FeedNotification = Notification<unknown>;
export type FeedStatus = { state: "connecting" } | { state: "connected" } | { state: "disconnected"; reason: string };

/** A logged-in admin: who it is, its access token (for socket.io) and the API client that sends it. */
export interface AdminSession {
	user: PublicUser;
	accessToken: string;
	api: ApiClient;
}

export interface FeedHandlers {
	onNotification(notification: FeedNotification): void;
	onStatus(status: FeedStatus): void;
}

export class Backoffice {
	constructor(
		readonly apiUrl: string = DEFAULT_API_URL,
		readonly wsUrl: string = DEFAULT_WS_URL,
	) {}

	static fromEnv(env: Record<string, string | undefined> = process.env): Backoffice {
		return new Backoffice(env.SHOP_API_URL ?? DEFAULT_API_URL, env.SHOP_WS_URL ?? DEFAULT_WS_URL);
	}

	/** Logs in; only an admin gets a session. */
	async login(email: string, password: string): Promise<AdminSession> {
		const api = new ApiClient(this.apiUrl);
		const { accessToken, user } = await api.login(email, password);
		if (user.role !== "admin") throw new ApiError("FORBIDDEN", `${user.email} is not an admin; the backoffice is for admins`, 403);
		return { user, accessToken, api };
	}

	latestOrders(session: AdminSession, pageSize = 20): Promise<OrderPage> {
		return session.api.listOrders({ pageSize });
	}

	products(session: AdminSession, pageSize = 100): Promise<ProductPage> {
		return session.api.listProducts({ pageSize, sort: "name" });
	}

	/** Connects to the notifications; returns the function that disconnects. */
	subscribe(session: AdminSession, handlers: FeedHandlers): () => void {
		const socket: Socket = io(this.wsUrl, { auth: { token: session.accessToken }, transports: ["websocket"] });
		handlers.onStatus({ state: "connecting" });
		socket.on("connect", () => handlers.onStatus({ state: "connected" }));
		socket.on("disconnect", (reason) => handlers.onStatus({ state: "disconnected", reason }));
		socket.on("connect_error", (err) => handlers.onStatus({ state: "disconnected", reason: err.message }));
		for (const event of FEED_EVENTS) socket.on(event, (notification: FeedNotification) => handlers.onNotification(notification));
		return () => {
			socket.removeAllListeners();
			socket.disconnect();
		};
	}
}

const short = (id: string) => id.slice(0, 8);

/** One line saying what a notification means. */
export function describeNotification(notification: FeedNotification): string {
	switch (notification.event) {
		case Events.orderStatus: {
			const data = notification.data as OrderStatusEvent;
			return `order ${short(data.orderId)}: ${data.previousStatus ?? "new"} -> ${data.status}`;
		}
		case Events.paymentStatus: {
			const data = notification.data as PaymentStatusEvent;
			return `payment for order ${short(data.orderId)}: ${data.status}${data.failureCode ? ` (${data.failureCode})` : ""}`;
		}
		case Events.productUnavailable: {
			const data = notification.data as ProductAvailabilityEvent;
			return `${data.name} is out of stock`;
		}
		case Events.productBackInStock: {
			const data = notification.data as ProductAvailabilityEvent;
			return `${data.name} is back in stock (${data.available} available)`;
		}
		default:
			return JSON.stringify(notification.data);
	}
}
