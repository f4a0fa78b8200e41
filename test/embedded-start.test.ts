import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect, createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { AuthTokens, ProductPage } from "../shared/contracts.js";
import { DEMO_PRODUCTS } from "../shared/seed/demo-catalog.js";
import { freePort } from "./support/cluster.js";
import { waitFor } from "./support/wait-for.js";

/**
 * `npm start` on a machine with nothing installed: no server URLs, so the
 * whole system runs in one process on an embedded PostgreSQL server and
 * jongodb, loads the demo
 * catalog and an admin account, and prints where to find them. Both stand-ins
 * keep everything in memory (jongodb cannot persist), so a restart starts
 * empty and seeds again: the inventory never outlives the catalog.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Shop {
	child: ChildProcess;
	output: string;
	port: number;
}

/** Runs `server.ts` with only what a newcomer's shell would have: no server URLs at all. */
function spawnShop(env: Record<string, string>): Shop {
	const child = spawn(process.execPath, ["--import", "tsx", "server.ts"], {
		cwd: ROOT,
		// The races below register 60 shoppers from this one address in a second, which the default limit refuses.
		env: { PATH: process.env.PATH, HOME: process.env.HOME, AUTH_REQUESTS_PER_MINUTE: "100000", ...env },
		stdio: ["ignore", "pipe", "pipe"],
	});
	const shop: Shop = { child, output: "", port: Number(env.PORT) };
	child.stdout!.on("data", (chunk: Buffer) => (shop.output += chunk.toString()));
	child.stderr!.on("data", (chunk: Buffer) => (shop.output += chunk.toString()));
	return shop;
}

async function startShop(): Promise<Shop> {
	const shop = spawnShop({ PORT: String(await freePort()), WS_PORT: String(await freePort()), ADMIN_EMAIL: "owner@example.com" });
	await waitFor(() => shop.output.includes("Admin:") || shop.child.exitCode !== null, "the start-up banner", 90_000);
	if (shop.child.exitCode !== null) throw new Error(`npm start exited with ${shop.child.exitCode}:\n${shop.output}`);
	return shop;
}

async function stopShop(shop: Shop | undefined): Promise<void> {
	if (!shop || shop.child.exitCode !== null || shop.child.signalCode !== null) return;
	const exited = once(shop.child, "exit");
	shop.child.kill("SIGTERM");
	const timer = setTimeout(() => shop.child.kill("SIGKILL"), 10_000);
	await exited;
	clearTimeout(timer);
}

/** The exit code of a start-up that is expected to fail. */
async function exitCodeOf(shop: Shop, timeoutMs = 60_000): Promise<number | null> {
	if (shop.child.exitCode === null && shop.child.signalCode === null) {
		const timer = setTimeout(() => shop.child.kill("SIGKILL"), timeoutMs);
		await once(shop.child, "exit");
		clearTimeout(timer);
	}
	return shop.child.exitCode;
}

const printedUrl = (shop: Shop, pattern: RegExp): string => {
	const match = pattern.exec(shop.output);
	if (!match) throw new Error(`Not printed: ${pattern}\n${shop.output}`);
	return match[1];
};
const postgresUrl = (shop: Shop) => printedUrl(shop, /Embedded PostgreSQL at (postgres:\/\/\S+?),/);
const jongodbUrl = (shop: Shop) => printedUrl(shop, /\(jongodb\) at (mongodb:\/\/[\d.]+:\d+)/);

/** Whether anything still accepts connections on the host:port of `url`. */
async function accepts(url: string): Promise<boolean> {
	const { hostname, port } = new URL(url);
	return new Promise((resolve) => {
		const socket = connect(Number(port), hostname);
		socket.once("connect", () => (socket.destroy(), resolve(true)));
		socket.once("error", () => resolve(false));
	});
}

/** The catalog as the API shows it, and the inventory's rows as PostgreSQL holds them. */
async function catalogAndInventory(shop: Shop) {
	const response = await fetch(`http://localhost:${shop.port}/api/products?pageSize=50`);
	expect(response.status).toBe(200);
	const catalog = (await response.json()) as ProductPage;
	const db = new pg.Client({ connectionString: postgresUrl(shop) });
	await db.connect();
	try {
		const { rows } = await db.query<{ product_id: string; available: number }>(
			"SELECT product_id, available FROM inventory.stock_levels ORDER BY product_id",
		);
		return { catalog, inventory: rows };
	} finally {
		await db.end();
	}
}

/** Every product has its stock row and every stock row its product; stock is the demo catalog's. */
function expectAgreement({ catalog, inventory }: Awaited<ReturnType<typeof catalogAndInventory>>) {
	expect(catalog.total).toBe(DEMO_PRODUCTS.length);
	expect(inventory.map((row) => row.product_id)).toEqual(catalog.items.map((p) => p.id).sort());
	for (const product of catalog.items) {
		const demo = DEMO_PRODUCTS.find((d) => d.name === product.name);
		expect({ name: product.name, available: product.available }).toEqual({ name: demo?.name, available: demo?.stock });
		expect(inventory.find((row) => row.product_id === product.id)?.available).toBe(product.available);
	}
}

describe("npm start on embedded defaults", () => {
	let first: Shop | undefined;

	beforeAll(async () => {
		first = await startShop();
	}, 120_000);

	afterAll(() => stopShop(first), 30_000);

	it("prints the API and socket.io URLs and the admin's generated credentials", () => {
		expect(first!.output).toContain(`API:        http://localhost:${first!.port}/api`);
		expect(first!.output).toMatch(/socket\.io: {2}http:\/\/localhost:\d+/);
		expect(first!.output).toMatch(/Admin: {6}owner@example\.com \/ \S{12,}/);
	});

	it("answers at the printed URL with every embedded dependency ready and the demo catalog loaded", async () => {
		const ready = await fetch(`http://localhost:${first!.port}/api/health/ready`);
		expect(ready.status).toBe(200);
		const { checks } = (await ready.json()) as { checks: Record<string, string> };
		for (const service of ["auth", "product", "order", "payment", "logs"]) expect(checks[`${service}:postgres`]).toBe("up");
		expect(checks["product:mongodb"]).toBe("up");
		const products = (await (await fetch(`http://localhost:${first!.port}/api/products?pageSize=50`)).json()) as ProductPage;
		expect(products.total).toBe(8);
		expect(products.items.every((p) => Number.isInteger(p.price) && p.currency === "EUR")).toBe(true);
	});

	it("lets the printed admin log in", async () => {
		const password = /Admin: {6}owner@example\.com \/ (\S+)/.exec(first!.output)![1];
		const response = await fetch(`http://localhost:${first!.port}/api/auth/login`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "owner@example.com", password }),
		});
		expect(response.status).toBe(200);
		expect(((await response.json()) as AuthTokens).user.role).toBe("admin");
	});

	it("says that the embedded stores keep nothing, and its catalog and inventory agree", async () => {
		expect(first!.output).toMatch(/Embedded PostgreSQL at \S+, data in \S+: deleted when the process ends/);
		expect(first!.output).toMatch(/\(jongodb\) at \S+, in memory/);
		expectAgreement(await catalogAndInventory(first!));
	});

	// PGlite, the stand-in before this one, mixed up the queries of concurrent
	// connections: a real server keeps each request's session its own.
	it("registers 60 shoppers at once, each with 201", async () => {
		const api = `http://localhost:${first!.port}/api`;
		const statuses = await Promise.all(
			Array.from({ length: 60 }, (_, i) =>
				fetch(`${api}/auth/register`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ email: `concurrent-${i}@example.com`, password: "a long password", name: `Shopper ${i}` }),
				}).then((r) => r.status),
			),
		);
		expect(statuses).toEqual(Array(60).fill(201));
	}, 60_000);

	it("sells exactly 5 units to 50 simultaneous orders for a product with 5 in stock", async () => {
		const api = `http://localhost:${first!.port}/api`;
		const json = { "content-type": "application/json" };
		const adminPassword = /Admin: {6}owner@example\.com \/ (\S+)/.exec(first!.output)![1];
		const admin = (await (
			await fetch(`${api}/auth/login`, { method: "POST", headers: json, body: JSON.stringify({ email: "owner@example.com", password: adminPassword }) })
		).json()) as AuthTokens;
		const created = await fetch(`${api}/products`, {
			method: "POST",
			headers: { ...json, authorization: `Bearer ${admin.accessToken}` },
			body: JSON.stringify({ name: "Last five", price: 1000, stock: 5 }),
		});
		expect(created.status).toBe(201);
		const product = (await created.json()) as { id: string };
		const shopper = (await (
			await fetch(`${api}/auth/register`, {
				method: "POST",
				headers: json,
				body: JSON.stringify({ email: "rush@example.com", password: "a long password", name: "Rush" }),
			})
		).json()) as AuthTokens;
		const statuses = await Promise.all(
			Array.from({ length: 50 }, (_, i) =>
				fetch(`${api}/orders`, {
					method: "POST",
					headers: { ...json, authorization: `Bearer ${shopper.accessToken}`, "idempotency-key": `rush-${i}` },
					body: JSON.stringify({ items: [{ productId: product.id, quantity: 1 }] }),
				}).then((r) => r.status),
			),
		);
		expect(statuses.filter((s) => s === 201)).toHaveLength(5);
		expect(statuses.filter((s) => s === 409)).toHaveLength(45);
		const after = (await (await fetch(`${api}/products/${product.id}`)).json()) as { available: number };
		expect(after.available).toBe(0);
	}, 60_000);

	describe("after a restart", () => {
		let second: Shop | undefined;
		let before: Awaited<ReturnType<typeof catalogAndInventory>>;

		beforeAll(async () => {
			before = await catalogAndInventory(first!);
			await stopShop(first);
			second = await startShop();
		}, 120_000);

		it("logged no warning or error through its start, the requests above (reads, registrations, orders, refusals) and its stop", () => {
			expect(first!.output).toContain("ServiceBroker is stopped. Good bye.");
			expect(first!.output.split("\n").filter((line) => /\b(WARN|ERROR|FATAL)\b/.test(line))).toEqual([]);
		});

		afterAll(() => stopShop(second), 30_000);

		it("starts empty again, like the catalog: one demo catalog, each product with its stock, no stock for products that are gone", async () => {
			const after = await catalogAndInventory(second!);
			expectAgreement(after);
			// Nothing of the first run is left, in either store.
			const firstIds = new Set(before.catalog.items.map((p) => p.id));
			expect(after.catalog.items.filter((p) => firstIds.has(p.id))).toEqual([]);
			expect(after.inventory.filter((row) => firstIds.has(row.product_id))).toEqual([]);
			// The admin is created again, with a new password.
			expect(second!.output).toMatch(/Admin: {6}owner@example\.com \/ \S{12,}/);
			expect(second!.output).toContain(`Catalog:    ${DEMO_PRODUCTS.length} demo products loaded`);
		});
	});
});

describe("npm start that fails to start", () => {
	let occupied: Server | undefined;

	afterEach(async () => {
		if (occupied) await new Promise((resolve) => occupied!.close(resolve));
		occupied = undefined;
	});

	it("stops the embedded stores (no PostgreSQL or jongodb left running) when a service cannot start", async () => {
		occupied = createServer();
		occupied.listen(0);
		await once(occupied, "listening");
		const wsPort = (occupied.address() as { port: number }).port;
		const shop = spawnShop({ PORT: String(await freePort()), WS_PORT: String(wsPort) });
		expect(await exitCodeOf(shop)).toBe(1);
		expect(shop.output).toMatch(/EADDRINUSE/);
		expect(await accepts(jongodbUrl(shop))).toBe(false);
		expect(await accepts(postgresUrl(shop))).toBe(false);
	}, 90_000);

	it("stops the broker and the embedded stores when creating the admin fails", async () => {
		const shop = spawnShop({ PORT: String(await freePort()), WS_PORT: String(await freePort()), ADMIN_EMAIL: "not-an-email" });
		expect(await exitCodeOf(shop)).toBe(1);
		expect(shop.output).toMatch(/The 'email' field must be a valid e-mail/);
		expect(shop.output).toMatch(/ServiceBroker is stopped/);
		expect(await accepts(jongodbUrl(shop))).toBe(false);
		expect(await accepts(postgresUrl(shop))).toBe(false);
	}, 90_000);

	it("refuses a real database beside an embedded catalog, naming MONGO_URL, before starting anything", async () => {
		const shop = spawnShop({ PORT: String(await freePort()), WS_PORT: String(await freePort()), DATABASE_URL: "postgres://shop@127.0.0.1:5432/shop" });
		expect(await exitCodeOf(shop)).toBe(1);
		expect(shop.output).toMatch(/MONGO_URL must be set when DATABASE_URL is and the product service runs/);
		expect(shop.output).not.toMatch(/Embedded/);
	}, 30_000);
});
