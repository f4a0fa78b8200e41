import type { ServiceBroker } from "moleculer";
import { QueryTypes, Sequelize } from "sequelize";
import { AuthActions, type AuthTokens, type PublicUser } from "../../shared/contracts.js";
import { createTestEnvironment, startBroker, type TestEnvironment } from "../../test/support/test-broker.js";
import AuthService from "./auth.service.js";

/**
 * Two auth services in one process, on two brokers and two databases: each
 * reads and writes its own database only (the data access is per service
 * instance, never bound at module level).
 */
describe("two auth services in one process", () => {
	const sides: { env: TestEnvironment; broker: ServiceBroker; db: Sequelize }[] = [];

	beforeAll(async () => {
		for (let i = 0; i < 2; i++) {
			const env = await createTestEnvironment();
			const broker = await startBroker(env, [AuthService]);
			sides.push({ env, broker, db: new Sequelize(env.databaseUrl, { logging: false }) });
		}
	});

	afterAll(async () => {
		for (const { env, broker, db } of sides) {
			await db.close();
			await broker.stop();
			await env.drop();
		}
	});

	const users = (db: Sequelize) =>
		db.query<{ email: string; name: string }>(`SELECT email, name FROM auth.users ORDER BY email`, { type: QueryTypes.SELECT });
	const sessions = async (db: Sequelize) => {
		const [{ count }] = await db.query<{ count: string }>(`SELECT count(*) FROM auth.sessions`, { type: QueryTypes.SELECT });
		return Number(count);
	};

	it("each registers, logs in, refreshes and logs out in its own database", async () => {
		const [one, two] = sides;
		const register = (broker: ServiceBroker, email: string, name: string, password: string) =>
			broker.call<AuthTokens, object>(AuthActions.register.name, { email, password, name });

		// The same email on both: each database has its own account.
		const first = await register(one.broker, "same@example.com", "One", "password-one");
		const second = await register(two.broker, "same@example.com", "Two", "password-two");
		await register(two.broker, "only-two@example.com", "Only two", "password-two");
		expect(await users(one.db)).toEqual([{ email: "same@example.com", name: "One" }]);
		expect(await users(two.db)).toEqual([
			{ email: "only-two@example.com", name: "Only two" },
			{ email: "same@example.com", name: "Two" },
		]);
		expect(await sessions(one.db)).toBe(1);
		expect(await sessions(two.db)).toBe(2);

		// Each reads its own: its own password, its own user, its own sessions.
		await expect(one.broker.call(AuthActions.login.name, { email: "same@example.com", password: "password-one" })).resolves.toMatchObject({
			user: { name: "One" },
		});
		await expect(one.broker.call(AuthActions.login.name, { email: "same@example.com", password: "password-two" })).rejects.toMatchObject({
			type: "INVALID_CREDENTIALS",
		});
		await expect(two.broker.call(AuthActions.login.name, { email: "same@example.com", password: "password-two" })).resolves.toMatchObject({
			user: { name: "Two" },
		});
		await expect(one.broker.call(AuthActions.login.name, { email: "only-two@example.com", password: "password-two" })).rejects.toMatchObject({
			type: "INVALID_CREDENTIALS",
		});
		const me = (broker: ServiceBroker, tokens: AuthTokens) =>
			broker.call<PublicUser, object>(
				AuthActions.me.name,
				{},
				{ meta: { user: { id: tokens.user.id, email: tokens.user.email, role: tokens.user.role } } },
			);
		await expect(me(one.broker, first)).resolves.toEqual(first.user);
		await expect(me(two.broker, second)).resolves.toEqual(second.user);
		await expect(me(two.broker, first)).rejects.toMatchObject({ type: "USER_NOT_FOUND" });

		// A refresh token is known only where it was issued.
		await expect(two.broker.call(AuthActions.refresh.name, { refreshToken: first.refreshToken })).rejects.toMatchObject({ type: "INVALID_REFRESH_TOKEN" });
		const refreshed = await one.broker.call<AuthTokens, object>(AuthActions.refresh.name, { refreshToken: first.refreshToken });
		expect(refreshed.user).toEqual(first.user);
		await two.broker.call(AuthActions.logout.name, { refreshToken: second.refreshToken });
		await expect(two.broker.call(AuthActions.refresh.name, { refreshToken: second.refreshToken })).rejects.toMatchObject({ type: "INVALID_REFRESH_TOKEN" });
		const revoked = (db: Sequelize) =>
			db
				.query<{ count: string }>(`SELECT count(*) FROM auth.sessions WHERE revoked_at IS NOT NULL`, { type: QueryTypes.SELECT })
				.then(([row]) => Number(row.count));
		expect(await revoked(one.db)).toBe(1);
		expect(await revoked(two.db)).toBe(1);
		expect(await sessions(one.db)).toBe(3);
		expect(await sessions(two.db)).toBe(3);
	});
});
