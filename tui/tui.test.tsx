import { render } from "ink-testing-library";
import type { ServiceBroker } from "moleculer";
import { randomUUID } from "node:crypto";
import { ApiClient } from "../client/api-client.js";
import ApiService from "../services/api.service.js";
import AuthService from "../services/auth/auth.service.js";
import LogsService from "../services/logs/logs.service.js";
import OrderService from "../services/order/order.service.js";
import PaymentService from "../services/payment/payment.service.js";
import ProductService from "../services/product/product.service.js";
import WebsocketService from "../services/websocket/websocket.service.js";
import { Events, type OrderStatusEvent, type Product } from "../shared/contracts.js";
import { freePort } from "../test/support/cluster.js";
import { createTestEnvironment, startBroker, testUsers, type TestEnvironment } from "../test/support/test-broker.js";
import { waitFor } from "../test/support/wait-for.js";
import { App } from "./App.js";
import { Backoffice } from "./backoffice.js";

type Ui = ReturnType<typeof render>;

describe("admin backoffice", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let backoffice: Backoffice;
	let apiUrl: string;
	let kettle: Product;
	const admin = { email: "backoffice@test.local", password: "backoffice-pw-1" };
	const shopper = { email: "dana@test.local", password: "dana-password-1", name: "Dana" };
	const mounted: Ui[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		const wsPort = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService, LogsService, WebsocketService], {
			PORT: String(port),
			WS_PORT: String(wsPort),
		});
		await broker.call("auth.ensureAdmin", admin);
		apiUrl = `http://127.0.0.1:${port}/api`;
		backoffice = new Backoffice(apiUrl, `http://127.0.0.1:${wsPort}`);
		const asAdmin = new ApiClient(apiUrl);
		await asAdmin.login(admin.email, admin.password);
		// The last unit: ordering it makes the product unavailable.
		kettle = await asAdmin.createProduct({ name: "Copper kettle", description: "Last one.", category: "equipment", price: 7900, currency: "EUR", stock: 1 });
		await asAdmin.createProduct({ name: "Tea towel", description: "Linen.", category: "kitchen", price: 900, currency: "EUR", stock: 50 });
	});

	afterAll(async () => {
		for (const ui of mounted) ui.unmount();
		await broker.stop();
		await env.drop();
	});

	const frame = (ui: Ui) => ui.lastFrame() ?? "";
	const see = (ui: Ui, text: string | RegExp, what = String(text)) =>
		waitFor(() => (typeof text === "string" ? frame(ui).includes(text) : text.test(frame(ui))), `the screen to show ${what}; it shows:\n${frame(ui)}`, 10_000, 20);

	function open(): Ui {
		const ui = render(<App backoffice={backoffice} />);
		mounted.push(ui);
		return ui;
	}

	/** Types like a person: one key (or one pasted string) at a time, each after the screen has caught up. */
	async function logIn(ui: Ui, email: string, password: string): Promise<void> {
		await see(ui, "log in as an admin");
		ui.stdin.write(email);
		await see(ui, email);
		ui.stdin.write("\r");
		ui.stdin.write(password);
		await see(ui, "*".repeat(password.length), "the masked password");
		expect(frame(ui)).not.toContain(password);
		ui.stdin.write("\r");
	}

	const connections = async () => (await broker.call<{ connections: number }, object>("websocket.info", {})).connections;

	it("refuses a wrong password on the login screen and lets the admin try again", async () => {
		const ui = open();
		await logIn(ui, admin.email, "wrong-password");
		await see(ui, "INVALID_CREDENTIALS: Email or password is wrong");
		expect(frame(ui)).toContain("log in as an admin");
		// Back to the email field, erase it, and type everything again.
		ui.stdin.write("\t");
		for (let i = 0; i < admin.email.length; i++) ui.stdin.write("\x7f");
		await see(ui, /Email\s+_/, "an empty email field");
		await logIn(ui, admin.email, admin.password);
		await see(ui, "Shop backoffice");
		await see(ui, "Notifications: connected");
		ui.stdin.write("q");
		await waitFor(async () => (await connections()) === 0, "the backoffice's socket to close on q");
	});

	it("keeps customers out", async () => {
		await new ApiClient(apiUrl).register(shopper.email, shopper.password, shopper.name);
		const ui = open();
		await logIn(ui, shopper.email, shopper.password);
		await see(ui, `FORBIDDEN: ${shopper.email} is not an admin`);
	});

	it("shows live notifications, the latest orders and the products' availability", async () => {
		const ui = open();
		await logIn(ui, admin.email, admin.password);
		await see(ui, "Notifications: connected");
		await see(ui, "Waiting for notifications...");

		// A fact announced on the broker reaches the feed.
		const announced: OrderStatusEvent = { orderId: randomUUID(), userId: testUsers.alice.id, status: "cancelled", previousStatus: "pending_payment", at: new Date().toISOString() };
		await broker.emit(Events.orderStatus, announced);
		await see(ui, `order ${announced.orderId.slice(0, 8)}: pending_payment -> cancelled`);

		// A shopper orders the last kettle through the API: the order, its payment and the stock all show up.
		const shop = new ApiClient(apiUrl);
		await shop.login(shopper.email, shopper.password);
		const order = await shop.placeOrder([{ productId: kettle.id, quantity: 1 }], randomUUID());
		const short = order.id.slice(0, 8);
		await see(ui, `order ${short}: new -> pending_payment`);
		await see(ui, "Copper kettle is out of stock");
		await see(ui, `payment for order ${short}: succeeded`);
		await see(ui, `order ${short}: pending_payment -> paid`);
		expect(frame(ui)).toMatch(/Live feed \(\d+\)/);

		ui.stdin.write("2");
		await see(ui, new RegExp(`${short}\\s+paid\\s+79\\.00 EUR\\s+1\\s+${order.userId.slice(0, 8)}`), "the paid order in the orders table");
		expect(frame(ui)).not.toContain("Waiting for notifications");

		ui.stdin.write("3");
		await see(ui, /Copper kettle\s+equipment\s+79\.00 EUR\s+0\s+out of stock/, "the kettle out of stock");
		expect(frame(ui)).toMatch(/Tea towel\s+kitchen\s+9\.00 EUR\s+50\s+in stock/);

		ui.stdin.write("1");
		await see(ui, "Copper kettle is out of stock");
	});
});
