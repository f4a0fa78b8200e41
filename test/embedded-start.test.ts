import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuthTokens, ProductPage } from "../shared/contracts.js";
import { freePort } from "./support/cluster.js";
import { waitFor } from "./support/wait-for.js";

/**
 * `npm start` on a machine with nothing installed: no server URLs, so the
 * whole system runs in one process on PGlite and jongodb, loads the demo
 * catalog and an admin account, and prints where to find them.
 */
const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("npm start on embedded defaults", () => {
	let child: ChildProcess;
	let output = "";
	let dataDir: string;
	let port: number;

	beforeAll(async () => {
		dataDir = await mkdtemp(join(tmpdir(), "shop-embedded-"));
		port = await freePort();
		const wsPort = await freePort();
		child = spawn(process.execPath, ["--import", "tsx", "server.ts"], {
			cwd: ROOT,
			// Only what a newcomer's shell would have: no server URLs at all.
			env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), WS_PORT: String(wsPort), DATA_DIR: dataDir, ADMIN_EMAIL: "owner@example.com" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		await waitFor(() => output.includes("Admin:") || child.exitCode !== null, "the start-up banner", 90_000);
	}, 120_000);

	afterAll(async () => {
		if (child.exitCode === null) {
			const exited = new Promise((resolve) => child.once("exit", resolve));
			child.kill("SIGTERM");
			const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
			await exited;
			clearTimeout(timer);
		}
		await rm(dataDir, { recursive: true, force: true });
	}, 30_000);

	it("prints the API and socket.io URLs and the admin's generated credentials", () => {
		expect(output).toContain(`API:        http://localhost:${port}/api`);
		expect(output).toMatch(/socket\.io:  http:\/\/localhost:\d+/);
		expect(output).toMatch(/Admin:      owner@example\.com \/ \S{12,}/);
	});

	it("answers at the printed URL with every embedded dependency ready and the demo catalog loaded", async () => {
		const ready = await fetch(`http://localhost:${port}/api/health/ready`);
		expect(ready.status).toBe(200);
		const products = (await (await fetch(`http://localhost:${port}/api/products?pageSize=50`)).json()) as ProductPage;
		expect(products.total).toBe(8);
		expect(products.items.every((p) => Number.isInteger(p.price) && p.currency === "EUR")).toBe(true);
	});

	it("lets the printed admin log in", async () => {
		const password = /Admin:      owner@example\.com \/ (\S+)/.exec(output)![1];
		const response = await fetch(`http://localhost:${port}/api/auth/login`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "owner@example.com", password }),
		});
		expect(response.status).toBe(200);
		expect(((await response.json()) as AuthTokens).user.role).toBe("admin");
	});
});
