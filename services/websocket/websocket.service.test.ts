import { randomUUID } from "node:crypto";
import type { ServiceBroker } from "moleculer";
import { io as connectClient, type Socket } from "socket.io-client";
import { Events, WebsocketActions, type AuthUser, type Notification, type OrderStatusEvent, type ProductAvailabilityEvent } from "../../shared/contracts.js";
import { signAccessToken } from "../../shared/tokens.js";
import { createTestEnvironment, startBroker, testUsers, tokenFor, type TestEnvironment } from "../../test/support/test-broker.js";
import { waitFor } from "../../test/support/wait-for.js";
import WebsocketService from "./websocket.service.js";

interface Client {
	socket: Socket;
	received: Notification<unknown>[];
}

describe("websocket service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let url: string;
	const clients: Socket[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [WebsocketService], { wsPort: 0 });
		const { port } = await broker.call<{ port: number }, object>(WebsocketActions.info.name, {});
		url = `http://127.0.0.1:${port}`;
	});

	afterAll(async () => {
		for (const socket of clients) socket.disconnect();
		await broker.stop();
		await env.drop();
	});

	/** Opens a connection; resolves once connected, rejects with the server's refusal. */
	const open = (auth: Record<string, unknown> | undefined): Promise<Client> => {
		const socket = connectClient(url, { auth, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 5000 });
		clients.push(socket);
		const received: Notification<unknown>[] = [];
		socket.onAny((_event: string, notification: Notification<unknown>) => void received.push(notification));
		return new Promise((resolve, reject) => {
			socket.once("connect", () => resolve({ socket, received }));
			socket.once("connect_error", (err) => reject(err));
		});
	};
	const connectAs = async (user: AuthUser) => open({ token: await tokenFor(env, user) });

	const orderStatus = (user: AuthUser): OrderStatusEvent => ({
		orderId: randomUUID(),
		userId: user.id,
		status: "paid",
		previousStatus: "pending_payment",
		at: new Date().toISOString(),
	});
	const notificationsAbout = (client: Client, key: string, value: string) =>
		client.received.filter((n) => (n.data as Record<string, unknown>)[key] === value);
	const waitForNotification = (client: Client, key: string, value: string, what: string) =>
		waitFor(() => notificationsAbout(client, key, value)[0], what, 5000, 20);
	/**
	 * Sends `client` a notification of its own and waits for it: socket.io keeps
	 * the order on a connection, so anything sent to it earlier has arrived by then.
	 */
	const barrier = async (client: Client, user: AuthUser) => {
		const marker = orderStatus(user);
		await broker.emit(Events.orderStatus, marker);
		await waitForNotification(client, "orderId", marker.orderId, `the barrier notification for ${user.email}`);
	};
	const expectNotification = (notification: Notification<unknown> | undefined, event: string, data: unknown) => {
		expect(notification).toEqual({ id: expect.any(String), event, data, at: expect.any(String) });
		expect(notification!.id).toMatch(/^[0-9a-f-]{36}$/);
		expect(new Date(notification!.at).toISOString()).toBe(notification!.at);
	};

	it("accepts a connection with a valid access token", async () => {
		const alice = await connectAs(testUsers.alice);
		expect(alice.socket.connected).toBe(true);
		expect((await broker.call<{ connections: number }, object>(WebsocketActions.info.name, {})).connections).toBeGreaterThanOrEqual(1);
	});

	it("refuses a connection without a token or with a bad one", async () => {
		await expect(open(undefined)).rejects.toMatchObject({ message: "UNAUTHORIZED" });
		await expect(open({ token: "" })).rejects.toMatchObject({ message: "UNAUTHORIZED" });
		await expect(open({ token: "not-a-jwt" })).rejects.toMatchObject({ message: "INVALID_TOKEN" });
		const forged = await signAccessToken(testUsers.admin, "some-other-secret-some-other-secret-12345", 600);
		await expect(open({ token: forged })).rejects.toMatchObject({ message: "INVALID_TOKEN" });
		const expired = await signAccessToken(testUsers.alice, env.jwtSecret, -60);
		await expect(open({ token: expired })).rejects.toMatchObject({ message: "INVALID_TOKEN" });
	});

	it("closes a connection when the token it was opened with expires", async () => {
		const shortLived = await signAccessToken(testUsers.bob, env.jwtSecret, 2);
		const { socket } = await open({ token: shortLived });
		expect(socket.connected).toBe(true);
		const reason = await new Promise<string>((resolve) => socket.once("disconnect", resolve));
		expect(reason).toBe("io server disconnect");
	});

	it("delivers an order.status event to its owner and to admins, not to other shoppers", async () => {
		const [alice, aliceSecondTab, bob, admin] = await Promise.all([
			connectAs(testUsers.alice),
			connectAs(testUsers.alice),
			connectAs(testUsers.bob),
			connectAs(testUsers.admin),
		]);
		const event = orderStatus(testUsers.alice);
		await broker.emit(Events.orderStatus, event);

		expectNotification(await waitForNotification(alice, "orderId", event.orderId, "alice's order.status"), Events.orderStatus, event);
		expectNotification(
			await waitForNotification(aliceSecondTab, "orderId", event.orderId, "alice's order.status in her second tab"),
			Events.orderStatus,
			event,
		);
		expectNotification(await waitForNotification(admin, "orderId", event.orderId, "the admin's copy of alice's order.status"), Events.orderStatus, event);
		await barrier(bob, testUsers.bob);
		expect(notificationsAbout(bob, "orderId", event.orderId)).toEqual([]);
		// Each delivered once.
		expect(notificationsAbout(alice, "orderId", event.orderId)).toHaveLength(1);
	});

	it("delivers payment.status to its owner only", async () => {
		const [alice, bob] = await Promise.all([connectAs(testUsers.alice), connectAs(testUsers.bob)]);
		const event = {
			paymentId: randomUUID(),
			orderId: randomUUID(),
			userId: testUsers.alice.id,
			status: "failed",
			failureCode: "card_declined",
			at: new Date().toISOString(),
		};
		await broker.emit(Events.paymentStatus, event);
		expectNotification(await waitForNotification(alice, "paymentId", event.paymentId, "alice's payment.status"), Events.paymentStatus, event);
		await barrier(bob, testUsers.bob);
		expect(notificationsAbout(bob, "paymentId", event.paymentId)).toEqual([]);
	});

	it("delivers product.unavailable to admins, not to customers", async () => {
		const [admin, alice] = await Promise.all([connectAs(testUsers.admin), connectAs(testUsers.alice)]);
		const event: ProductAvailabilityEvent = { productId: randomUUID(), name: "Grinder", available: 0 };
		await broker.emit(Events.productUnavailable, event);
		expectNotification(await waitForNotification(admin, "productId", event.productId, "the admin's product.unavailable"), Events.productUnavailable, event);
		await barrier(alice, testUsers.alice);
		expect(notificationsAbout(alice, "productId", event.productId)).toEqual([]);
	});

	it("gives every notification its own id", async () => {
		const alice = await connectAs(testUsers.alice);
		const events = [orderStatus(testUsers.alice), orderStatus(testUsers.alice), orderStatus(testUsers.alice)];
		for (const event of events) await broker.emit(Events.orderStatus, event);
		const delivered = await Promise.all(events.map((e) => waitForNotification(alice, "orderId", e.orderId, "each notification")));
		for (const [i, notification] of delivered.entries()) expectNotification(notification, Events.orderStatus, events[i]);
		expect(new Set(delivered.map((n) => n.id)).size).toBe(events.length);
	});
});
