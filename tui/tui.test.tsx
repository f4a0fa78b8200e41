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
import { AuthActions, Events, WebsocketActions, type OrderStatusEvent, type Product } from "../shared/contracts.js";
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
	const admin = { email: "backoffice@test.local", password: "amber-tide-1982" };
	const shopper = { email: "dana@test.local", password: "violet-harbour-73", name: "Dana" };
	const mounted: Ui[] = [];

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		const wsPort = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService, OrderService, PaymentService, LogsService, WebsocketService], {
			port,
			wsPort,
		});
		await broker.call(AuthActions.ensureAdmin.name, admin);
		apiUrl = `http://127.0.0.1:${port}/api`;
		backoffice = new Backoffice(apiUrl, `http://127.0.0.1:${wsPort}`);
		const asAdmin = new ApiClient(apiUrl);
		await asAdmin.login(admin.email, admin.password);
		// The last unit: ordering it makes the product unavailable.
		kettle = await asAdmin.createProduct({
			name: "Copper kettle",
			description: "Last one.",
			category: "equipment",
			price: 7900,
			currency: "EUR",
			stock: 1,
		});
		await asAdmin.createProduct({ name: "Tea towel", description: "Linen.", category: "kitchen", price: 900, currency: "EUR", stock: 50 });
	});

	afterAll(async () => {
		for (const ui of mounted) ui.unmount();
		await broker.stop();
		await env.drop();
	});

	const frame = (ui: Ui) => ui.lastFrame() ?? "";
	const see = (ui: Ui, text: string | RegExp, what = String(text)) =>
		waitFor(
			() => (typeof text === "string" ? frame(ui).includes(text) : text.test(frame(ui))),
			`the screen to show ${what}; it shows:\n${frame(ui)}`,
			10_000,
			20,
		);

	function open(): Ui {
		const ui = render(<App backoffice={backoffice} />);
		mounted.push(ui);
		return ui;
	}

	interface LoginFields {
		/** The label the `>` marks. */
		focused?: string;
		email?: string;
		password?: string;
	}

	/** The login form as the screen shows it: `│ > Email     me@example.com   │`. */
	function loginFields(ui: Ui): LoginFields {
		const fields: LoginFields = {};
		for (const line of frame(ui).split("\n")) {
			const match = /^│ ([> ]) (Email|Password) +(.*?) *│$/.exec(line);
			if (!match) continue;
			if (match[1] === ">") fields.focused = match[2];
			fields[match[2] === "Email" ? "email" : "password"] = match[3];
		}
		return fields;
	}

	const seeFields = (ui: Ui, expected: LoginFields) =>
		waitFor(
			() => Object.entries(expected).every(([name, value]) => loginFields(ui)[name as keyof LoginFields] === value),
			`the login form to show ${JSON.stringify(expected)}; it shows ${JSON.stringify(loginFields(ui))}:\n${frame(ui)}`,
			10_000,
			20,
		);

	/** Never, in any frame drawn so far. */
	const neverShown = (ui: Ui, secret: string) => expect(ui.frames.filter((f) => f.includes(secret))).toEqual([]);

	/** Types like a person: one key (or one pasted string) at a time, each after the screen has caught up. */
	async function logIn(ui: Ui, email: string, password: string): Promise<void> {
		await see(ui, "log in as an admin");
		await seeFields(ui, { focused: "Email" });
		ui.stdin.write(email);
		await seeFields(ui, { email });
		ui.stdin.write("\r");
		await seeFields(ui, { focused: "Password" });
		ui.stdin.write(password);
		await seeFields(ui, { password: "*".repeat(password.length) });
		neverShown(ui, password);
		ui.stdin.write("\r");
	}

	const connections = async () => (await broker.call<{ connections: number }, object>(WebsocketActions.info.name, {})).connections;

	it("refuses a wrong password on the login screen and lets the admin try again", async () => {
		const ui = open();
		await logIn(ui, admin.email, "wrong-password");
		await see(ui, "INVALID_CREDENTIALS: Email or password is wrong");
		expect(frame(ui)).toContain("log in as an admin");
		// The password is gone, the cursor waits in its field.
		await seeFields(ui, { focused: "Password", email: admin.email, password: "" });
		// Back to the email field with Shift+Tab, erase it, and type everything again.
		ui.stdin.write("\x1b[Z");
		await seeFields(ui, { focused: "Email" });
		ui.stdin.write("\x7f".repeat(admin.email.length));
		await seeFields(ui, { focused: "Email", email: "" });
		await logIn(ui, admin.email, admin.password);
		await see(ui, "Shop backoffice");
		await see(ui, "Notifications: connected");
		ui.stdin.write("q");
		await waitFor(async () => (await connections()) === 0, "the backoffice's socket to close on q");
	});

	it("applies every key of one write, in order, to the field that has the focus", async () => {
		const ui = open();
		await seeFields(ui, { focused: "Email", email: "", password: "" });
		// Enter twice: to the password, then a refusal to log in with nothing.
		ui.stdin.write("\r\r");
		await see(ui, "Type an email and a password");
		await seeFields(ui, { focused: "Password" });
		// Tab goes round from the last field to the first.
		ui.stdin.write("\t");
		await seeFields(ui, { focused: "Email" });
		// Escape does not leave the form without a focus. Ink waits a moment
		// for what may follow an escape; the check waits longer.
		ui.stdin.write("\x1b");
		await new Promise((resolve) => setTimeout(resolve, 100));
		await seeFields(ui, { focused: "Email" });
		// A whole word in one write goes into the field, all of it.
		ui.stdin.write(`${admin.email}XYZ`);
		await seeFields(ui, { focused: "Email", email: `${admin.email}XYZ`, password: "" });
		// Three backspaces in one write erase three characters.
		ui.stdin.write("\x7f\x7f\x7f");
		await seeFields(ui, { focused: "Email", email: admin.email, password: "" });
		// Tab, the password and Enter in one write: logged in.
		ui.stdin.write(`\t${admin.password}\r`);
		await see(ui, "Shop backoffice");
		neverShown(ui, admin.password);
	});

	it("moves to the password after a pasted line, and never lets the password into the Email field", async () => {
		const ui = open();
		await seeFields(ui, { focused: "Email" });
		// A pasted line ends with Enter: the cursor goes on to the password.
		ui.stdin.write(`${admin.email}\r`);
		await seeFields(ui, { focused: "Password", email: admin.email, password: "" });
		ui.stdin.write("\x1b[Z");
		await seeFields(ui, { focused: "Email" });
		// Shift+Tab and the password in one write (Ink hands them over as two
		// inputs, before the screen has moved the focus): Shift+Tab goes round
		// to the password field, and the password with it.
		ui.stdin.write(`\x1b[Z${admin.password}`);
		await seeFields(ui, { focused: "Password", email: admin.email, password: "*".repeat(admin.password.length) });
		// Keys typed faster than the screen redraws: Shift+Tab, Tab, then a
		// backspace per character, each its own write in the same tick.
		ui.stdin.write("\x1b[Z");
		ui.stdin.write("\t");
		for (let i = 0; i < admin.password.length; i++) ui.stdin.write("\x7f");
		await seeFields(ui, { focused: "Password", email: admin.email, password: "" });
		// And the same with Tab and the password, from the Email field.
		ui.stdin.write("\x1b[Z");
		await seeFields(ui, { focused: "Email" });
		ui.stdin.write("\t");
		ui.stdin.write(admin.password);
		await seeFields(ui, { focused: "Password", email: admin.email, password: "*".repeat(admin.password.length) });
		neverShown(ui, admin.password);
		// Shift+Tab then Enter in one write: that Enter is the Email field's, it
		// moves on to the password rather than logging in from there.
		ui.stdin.write("\x1b[Z\r");
		await seeFields(ui, { focused: "Password" });
		ui.stdin.write("\x1b[Z");
		await seeFields(ui, { focused: "Email", email: admin.email, password: "*".repeat(admin.password.length) });
		expect(frame(ui)).not.toContain("Logging in");
		ui.stdin.write("\t\r");
		await see(ui, "Shop backoffice");
		neverShown(ui, admin.password);
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
		const announced: OrderStatusEvent = {
			orderId: randomUUID(),
			userId: testUsers.alice.id,
			status: "cancelled",
			previousStatus: "pending_payment",
			at: new Date().toISOString(),
		};
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
