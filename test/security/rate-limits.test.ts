import type { ServiceBroker } from "moleculer";
import ApiService from "../../services/api.service.js";
import AuthService from "../../services/auth/auth.service.js";
import { freePort } from "../support/cluster.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../support/test-broker.js";

/**
 * OWASP API2 and API4: guessing passwords and spending credentials are
 * limited, per account and per client address, in Redis, so that two gateway
 * nodes share one budget (each broker here is a gateway of its own on the
 * same Redis and database).
 */
describe("rate limits on the credential routes", () => {
	const limits = { loginAttemptsPerAccount: 5, loginWindowSeconds: 900, authRequestsPerMinute: 40 };
	let env: TestEnvironment;
	let gateways: { broker: ServiceBroker; base: string }[];

	beforeAll(async () => {
		env = await createTestEnvironment();
		gateways = [];
		for (let i = 0; i < 2; i++) {
			const port = await freePort();
			gateways.push({ broker: await startBroker(env, [ApiService, AuthService], { port, ...limits }), base: `http://127.0.0.1:${port}/api` });
		}
	});

	afterAll(async () => {
		for (const { broker } of gateways ?? []) await broker.stop();
		await env?.drop();
	});

	const post = (gateway: number, path: string, body: object, headers: Record<string, string> = {}) =>
		fetch(`${gateways[gateway].base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
	const register = (gateway: number, email: string, headers?: Record<string, string>) =>
		post(gateway, "/auth/register", { email, password: "the-right-password", name: "Limited" }, headers);
	const login = (gateway: number, email: string, password: string) => post(gateway, "/auth/login", { email, password });
	const code = async (response: Response) => ((await response.json()) as { error?: { code: string } }).error?.code;

	it("refuses the 6th log-in attempt on an account within the window, right password or not, on any gateway; other accounts go on", async () => {
		expect((await register(0, "victim@test.local")).status).toBe(201);
		expect((await register(0, "bystander@test.local")).status).toBe(201);
		for (let attempt = 0; attempt < limits.loginAttemptsPerAccount; attempt++) {
			// Alternating gateways: they count in one Redis.
			expect((await login(attempt % 2, "victim@test.local", `guess-${attempt}`)).status).toBe(401);
		}
		for (const gateway of [0, 1]) {
			const refused = await login(gateway, "VICTIM@test.local", "the-right-password");
			expect({ status: refused.status, code: await code(refused) }).toEqual({ status: 429, code: "TOO_MANY_REQUESTS" });
			expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
		}
		expect((await login(1, "bystander@test.local", "the-right-password")).status).toBe(200);
	});

	it("starts an account's count again after its owner logs in", async () => {
		expect((await register(1, "forgetful@test.local")).status).toBe(201);
		for (let round = 0; round < 2; round++) {
			for (let attempt = 0; attempt < limits.loginAttemptsPerAccount - 1; attempt++) {
				expect((await login(0, "forgetful@test.local", "wrong-password")).status).toBe(401);
			}
			expect((await login(0, "forgetful@test.local", "the-right-password")).status).toBe(200);
		}
	});

	it("refuses a burst of registrations from one address beyond the minute's budget, whatever X-Forwarded-For says", async () => {
		const statuses: number[] = [];
		// The two tests above spent part of this address's minute already: a burst of 60 goes past it.
		for (let i = 0; i < 60; i++) {
			const response = await register(i % 2, `burst-${i}@test.local`, { "x-forwarded-for": `203.0.113.${i}` });
			statuses.push(response.status);
		}
		expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(0);
		expect(statuses.every((status) => status === 201 || status === 429)).toBe(true);
		expect(statuses.slice(statuses.indexOf(429)).every((status) => status === 429)).toBe(true);
	});
});
