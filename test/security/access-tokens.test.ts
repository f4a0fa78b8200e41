import { SignJWT, UnsecuredJWT } from "jose";
import type { ServiceBroker } from "moleculer";
import ApiService from "../../services/api.service.js";
import AuthService from "../../services/auth/auth.service.js";
import ProductService from "../../services/product/product.service.js";
import type { AuthTokens } from "../../shared/contracts.js";
import { freePort } from "../support/cluster.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../support/test-broker.js";

/**
 * OWASP API2 (broken authentication), for access tokens at the gateway: only
 * a token the auth service issued, as it issues them, names a user; every
 * other one is 401 INVALID_TOKEN, however it is signed or sent.
 */
describe("access tokens at the gateway", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let base: string;
	let issued: AuthTokens;

	beforeAll(async () => {
		env = await createTestEnvironment();
		const port = await freePort();
		broker = await startBroker(env, [ApiService, AuthService, ProductService], { port });
		base = `http://127.0.0.1:${port}/api`;
		const registered = await fetch(`${base}/auth/register`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ email: "tokens@test.local", password: "long-enough-pw", name: "Tokens" }),
		});
		issued = (await registered.json()) as AuthTokens;
	});

	afterAll(async () => {
		await broker?.stop();
		await env?.drop();
	});

	const me = (authorization: string) => fetch(`${base}/auth/me`, { headers: { authorization } });
	const key = () => new TextEncoder().encode(env.jwtSecret);
	/** A token as the auth service makes one, with `change` applied: each case below alters one thing. */
	const token = async (change: (jwt: SignJWT) => SignJWT = (jwt) => jwt, header: Record<string, unknown> = { alg: "HS256", typ: "at+jwt" }) =>
		change(
			new SignJWT({ email: issued.user.email, role: "admin" })
				.setProtectedHeader(header as { alg: string })
				.setSubject(issued.user.id)
				.setIssuer("moleculer-shop")
				.setAudience("moleculer-shop:api")
				.setIssuedAt(),
		).sign(key());

	it("accepts the token the auth service issued, whatever the case of the scheme", async () => {
		expect((await me(`Bearer ${issued.accessToken}`)).status).toBe(200);
		expect((await me(`bearer ${issued.accessToken}`)).status).toBe(200);
	});

	it("refuses every other token with 401 INVALID_TOKEN", async () => {
		const inAMinute = (jwt: SignJWT) => jwt.setExpirationTime("60s");
		const cases: [string, string][] = [
			[
				"signed with another key",
				await new SignJWT({ email: "x@y.z", role: "admin" })
					.setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
					.setSubject(issued.user.id)
					.setIssuer("moleculer-shop")
					.setAudience("moleculer-shop:api")
					.setIssuedAt()
					.setExpirationTime("60s")
					.sign(new TextEncoder().encode("another-secret-another-secret-1234")),
			],
			[
				"alg none",
				new UnsecuredJWT({ email: issued.user.email, role: "admin" })
					.setSubject(issued.user.id)
					.setIssuer("moleculer-shop")
					.setAudience("moleculer-shop:api")
					.setIssuedAt()
					.setExpirationTime("60s")
					.encode(),
			],
			["expired", await token((jwt) => jwt.setExpirationTime("-10s"))],
			["without an expiry", await token()],
			["valid for ten years", await token((jwt) => jwt.setExpirationTime("3650d"))],
			["for another audience", await token((jwt) => inAMinute(jwt).setAudience("another-api"))],
			["from another issuer", await token((jwt) => inAMinute(jwt).setIssuer("someone-else"))],
			["without its type", await token(inAMinute, { alg: "HS256" })],
			["of another type", await token(inAMinute, { alg: "HS256", typ: "JWT" })],
		];
		for (const [what, forged] of cases) {
			const response = await me(`Bearer ${forged}`);
			expect({ what, status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code }).toEqual({
				what,
				status: 401,
				code: "INVALID_TOKEN",
			});
		}
		// The baseline the cases alter is accepted: each refusal above is for what it changed.
		expect((await me(`Bearer ${await token(inAMinute)}`)).status).toBe(200);
	});

	it("refuses an Authorization header that is not exactly 'Bearer <token>'", async () => {
		for (const header of [
			`Bearer ${issued.accessToken} extra`,
			`Basic ${issued.accessToken}`,
			`Bearer  ${issued.accessToken}`,
			issued.accessToken,
			"Bearer",
		]) {
			const response = await me(header);
			expect({ header: header.slice(0, 12), status: response.status }).toEqual({ header: header.slice(0, 12), status: 401 });
		}
	});
});
