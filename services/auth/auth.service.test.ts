import type { ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { AuthActions, type AuthTokens, type PublicUser } from "../../shared/contracts.js";
import { verifyAccessToken } from "../../shared/tokens.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../../test/support/test-broker.js";
import AuthService from "./auth.service.js";
import { verifyPassword } from "./password.js";

describe("auth service", () => {
	let env: TestEnvironment;
	let broker: ServiceBroker;
	let db: Sequelize;

	beforeAll(async () => {
		env = await createTestEnvironment();
		broker = await startBroker(env, [AuthService]);
		db = new Sequelize(env.databaseUrl, { logging: false });
	});

	afterAll(async () => {
		await db.close();
		await broker.stop();
		await env.drop();
	});

	const register = (params: Record<string, unknown>) => broker.call<AuthTokens, Record<string, unknown>>(AuthActions.register.name, params);
	const login = (params: Record<string, unknown>) => broker.call<AuthTokens, Record<string, unknown>>(AuthActions.login.name, params);
	const countUsers = async (email?: string) => {
		const [{ count }] = await db.query<{ count: string }>(`SELECT count(*) FROM auth.users ${email ? "WHERE lower(email) = lower(:email)" : ""}`, {
			replacements: { email: email ?? null },
			type: QueryTypes.SELECT,
		});
		return Number(count);
	};
	const storedHash = async (email: string) => {
		const [row] = await db.query<{ password_hash: string }>(`SELECT password_hash FROM auth.users WHERE lower(email) = lower(:email)`, {
			replacements: { email },
			type: QueryTypes.SELECT,
		});
		return row?.password_hash;
	};
	const sessionCount = async (email: string) => {
		const [{ count }] = await db.query<{ count: string }>(
			`SELECT count(*) FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id WHERE lower(u.email) = lower(:email)`,
			{ replacements: { email }, type: QueryTypes.SELECT },
		);
		return Number(count);
	};

	it("registers: tokens and the public user, never the password hash", async () => {
		const result = await register({ email: "Ann@Example.com", password: "correct horse", name: "Ann" });
		expect(result).toEqual({
			accessToken: expect.any(String),
			refreshToken: expect.any(String),
			expiresIn: expect.any(Number),
			user: { id: expect.any(String), email: "ann@example.com", name: "Ann", role: "customer", createdAt: expect.any(String) },
		});
		const serialized = JSON.stringify(result);
		expect(serialized).not.toMatch(/passwordHash|password_hash|scrypt\$/);
		expect(serialized).not.toContain("correct horse");
		// The access token names this user as a customer.
		expect(await verifyAccessToken(result.accessToken, env.jwtSecret, 900)).toEqual({ id: result.user.id, email: "ann@example.com", role: "customer" });
	});

	it("stores the password as a salted scrypt hash, not the password", async () => {
		await register({ email: "hash@example.com", password: "s3cret-password", name: "Hash" });
		await register({ email: "hash2@example.com", password: "s3cret-password", name: "Hash 2" });
		const hash = await storedHash("hash@example.com");
		expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
		expect(hash).not.toContain("s3cret-password");
		expect(await verifyPassword("s3cret-password", hash!)).toBe(true);
		expect(await verifyPassword("wrong-password", hash!)).toBe(false);
		// Same password, different salt: different hashes.
		expect(await storedHash("hash2@example.com")).not.toBe(hash);
	});

	it("refuses a commonly used password, or one holding the email, naming the field, and creates nobody", async () => {
		const before = await countUsers();
		for (const password of ["password", "12345678", "Password1", "weak.lee@example.com", "weak.lee-2024"]) {
			await expect(register({ email: "weak.lee@example.com", password, name: "Weak" })).rejects.toMatchObject({
				code: 422,
				type: "VALIDATION_ERROR",
				data: [expect.objectContaining({ field: "password", type: "passwordWeak" })],
			});
		}
		await expect(broker.call(AuthActions.ensureAdmin.name, { email: "root@example.com", password: "Admin123!" })).rejects.toMatchObject({
			code: 422,
			data: [expect.objectContaining({ field: "password" })],
		});
		expect(await countUsers()).toBe(before);
	});

	it("refuses a second account for the same email, whatever its case", async () => {
		await register({ email: "dup@example.com", password: "pass-phrase-1", name: "First" });
		await expect(register({ email: "DUP@example.com", password: "pass-phrase-2", name: "Second" })).rejects.toMatchObject({
			code: 409,
			type: "EMAIL_TAKEN",
		});
		await expect(register({ email: " dup@EXAMPLE.com ", password: "pass-phrase-2", name: "Third" })).rejects.toMatchObject({
			code: 409,
			type: "EMAIL_TAKEN",
		});
		expect(await countUsers("dup@example.com")).toBe(1);
		// The first account keeps its password.
		await expect(login({ email: "dup@example.com", password: "pass-phrase-1" })).resolves.toMatchObject({ user: { name: "First" } });
	});

	it("lets exactly one of concurrent registrations of one email succeed", async () => {
		const results = await Promise.allSettled([
			register({ email: "race@example.com", password: "password-a", name: "A" }),
			register({ email: "Race@Example.com", password: "password-b", name: "B" }),
			register({ email: "RACE@example.com", password: "password-c", name: "C" }),
		]);
		expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
		for (const r of results.filter((r): r is PromiseRejectedResult => r.status === "rejected"))
			expect(r.reason).toMatchObject({ code: 409, type: "EMAIL_TAKEN" });
		expect(await countUsers("race@example.com")).toBe(1);
	});

	it("logs in with the right password, case-insensitively on the email", async () => {
		const registered = await register({ email: "login@example.com", password: "right-password", name: "Login" });
		const result = await login({ email: "LOGIN@example.com", password: "right-password" });
		expect(result.user).toEqual(registered.user);
		expect(result.refreshToken).not.toBe(registered.refreshToken);
		expect(JSON.stringify(result)).not.toMatch(/passwordHash|password_hash|scrypt\$/);
	});

	it("answers a wrong password and an unknown email alike: 401 INVALID_CREDENTIALS", async () => {
		await register({ email: "creds@example.com", password: "right-password", name: "Creds" });
		const sessionsBefore = await sessionCount("creds@example.com");
		const wrong = await login({ email: "creds@example.com", password: "wrong-password" }).catch((err: Error) => err);
		const unknown = await login({ email: "nobody@example.com", password: "right-password" }).catch((err: Error) => err);
		expect(wrong).toMatchObject({ code: 401, type: "INVALID_CREDENTIALS" });
		// Nothing tells which of the two was wrong.
		expect(unknown).toMatchObject({ code: 401, type: "INVALID_CREDENTIALS", message: (wrong as Error).message });
		expect(await sessionCount("creds@example.com")).toBe(sessionsBefore);
	});

	it("rotates refresh tokens: each is good for one use, and its successor for one more", async () => {
		const first = await register({ email: "refresh@example.com", password: "pass-phrase-1", name: "Refresh" });
		const second = await broker.call<AuthTokens, object>(AuthActions.refresh.name, { refreshToken: first.refreshToken });
		expect(second.user).toEqual(first.user);
		expect(second.refreshToken).not.toBe(first.refreshToken);
		expect(await verifyAccessToken(second.accessToken, env.jwtSecret, 900)).toMatchObject({ id: first.user.id });
		const third = await broker.call<AuthTokens, object>(AuthActions.refresh.name, { refreshToken: second.refreshToken });
		expect(third.user.id).toBe(first.user.id);
		await expect(broker.call(AuthActions.refresh.name, { refreshToken: "x".repeat(43) })).rejects.toMatchObject({
			code: 401,
			type: "INVALID_REFRESH_TOKEN",
		});
	});

	it("revokes the whole family when a replaced refresh token is presented again, and leaves the owner's other log-ins alone", async () => {
		const stolen = await register({ email: "reuse@example.com", password: "pass-phrase-1", name: "Reuse" });
		const otherDevice = await broker.call<AuthTokens, object>(AuthActions.login.name, { email: "reuse@example.com", password: "pass-phrase-1" });
		// The thief rotates first; the owner then presents the replaced token.
		const thiefs = await broker.call<AuthTokens, object>(AuthActions.refresh.name, { refreshToken: stolen.refreshToken });
		await expect(broker.call(AuthActions.refresh.name, { refreshToken: stolen.refreshToken })).rejects.toMatchObject({
			code: 401,
			type: "INVALID_REFRESH_TOKEN",
		});
		// The token the thief got from it is dead too.
		await expect(broker.call(AuthActions.refresh.name, { refreshToken: thiefs.refreshToken })).rejects.toMatchObject({
			code: 401,
			type: "INVALID_REFRESH_TOKEN",
		});
		// Another log-in is another family.
		await expect(broker.call(AuthActions.refresh.name, { refreshToken: otherDevice.refreshToken })).resolves.toMatchObject({
			user: { email: "reuse@example.com" },
		});
	});

	it("uses a refresh token once even when two refreshes race", async () => {
		const { refreshToken } = await register({ email: "refresh-race@example.com", password: "pass-phrase-1", name: "Race" });
		const results = await Promise.allSettled([
			broker.call(AuthActions.refresh.name, { refreshToken }),
			broker.call(AuthActions.refresh.name, { refreshToken }),
			broker.call(AuthActions.refresh.name, { refreshToken }),
		]);
		expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
		for (const r of results.filter((r): r is PromiseRejectedResult => r.status === "rejected"))
			expect(r.reason).toMatchObject({ type: "INVALID_REFRESH_TOKEN" });
	});

	it("logout revokes the refresh token", async () => {
		const { refreshToken } = await register({ email: "logout@example.com", password: "pass-phrase-1", name: "Logout" });
		await expect(broker.call(AuthActions.logout.name, { refreshToken })).resolves.toEqual({ loggedOut: true });
		await expect(broker.call(AuthActions.refresh.name, { refreshToken })).rejects.toMatchObject({ code: 401, type: "INVALID_REFRESH_TOKEN" });
	});

	it("me requires a logged-in caller and returns that user", async () => {
		await expect(broker.call(AuthActions.me.name, {})).rejects.toMatchObject({ code: 401, type: "UNAUTHORIZED" });
		const registered = await register({ email: "me@example.com", password: "pass-phrase-1", name: "Me" });
		// The gateway puts the verified access token's user in meta.
		const user = await verifyAccessToken(registered.accessToken, env.jwtSecret, 900);
		const me = await broker.call<PublicUser, object>(AuthActions.me.name, {}, { meta: { user } });
		expect(me).toEqual(registered.user);
		expect(JSON.stringify(me)).not.toMatch(/passwordHash|password_hash|scrypt\$/);
	});

	it("ensureAdmin creates an admin once and is idempotent", async () => {
		const first = await broker.call<{ created: boolean; user: PublicUser }, object>(AuthActions.ensureAdmin.name, {
			email: "Boss@Example.com",
			password: "admin-password",
		});
		expect(first).toEqual({ created: true, user: expect.objectContaining({ email: "boss@example.com", name: "Administrator", role: "admin" }) });
		const second = await broker.call<{ created: boolean; user: PublicUser }, object>(AuthActions.ensureAdmin.name, {
			email: "boss@example.com",
			password: "other-password",
		});
		expect(second).toEqual({ created: false, user: first.user });
		expect(await countUsers("boss@example.com")).toBe(1);
		// The admin logs in with the first password; the second call changed nothing.
		const session = await login({ email: "boss@example.com", password: "admin-password" });
		expect(session.user.role).toBe("admin");
		expect(await verifyAccessToken(session.accessToken, env.jwtSecret, 900)).toMatchObject({ role: "admin" });
		await expect(login({ email: "boss@example.com", password: "other-password" })).rejects.toMatchObject({ type: "INVALID_CREDENTIALS" });
	});

	it("ensureAdmin refuses an email that belongs to a customer, and leaves the customer as it was", async () => {
		await broker.call(AuthActions.register.name, { email: "shopper-first@example.com", password: "shopper-password", name: "Shopper" });
		await expect(broker.call(AuthActions.ensureAdmin.name, { email: "shopper-first@example.com", password: "admin-password" })).rejects.toMatchObject({
			code: 409,
			type: "EMAIL_TAKEN",
		});
		const session = await login({ email: "shopper-first@example.com", password: "shopper-password" });
		expect(session.user.role).toBe("customer");
	});

	it("registration makes customers only: a role sent by the client is ignored", async () => {
		const result = await register({ email: "sneaky@example.com", password: "pass-phrase-1", name: "Sneaky", role: "admin" });
		expect(result.user.role).toBe("customer");
		const [row] = await db.query<{ role: string }>(`SELECT role FROM auth.users WHERE email = 'sneaky@example.com'`, { type: QueryTypes.SELECT });
		expect(row.role).toBe("customer");
	});

	it("rejects bad input with a 422 ValidationError and writes nothing", async () => {
		const users = await countUsers();
		const bad: Record<string, unknown>[] = [
			{ email: "not-an-email", password: "pass-phrase-1", name: "Bad" },
			{ email: "short@example.com", password: "short", name: "Bad" },
			{ email: "noname@example.com", password: "pass-phrase-1" },
			{ email: "blankname@example.com", password: "pass-phrase-1", name: "   " },
			{ email: "numbername@example.com", password: "pass-phrase-1", name: 42 },
			{ password: "pass-phrase-1", name: "No email" },
		];
		for (const params of bad) await expect(register(params)).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await expect(login({ email: "not-an-email", password: "pass-phrase-1" })).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await expect(broker.call(AuthActions.refresh.name, {})).rejects.toMatchObject({ name: "ValidationError", code: 422 });
		await expect(broker.call(AuthActions.ensureAdmin.name, { email: "admin2@example.com", password: "short" })).rejects.toMatchObject({
			name: "ValidationError",
			code: 422,
		});
		expect(await countUsers()).toBe(users);
	});
});
