import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Context, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { UniqueConstraintError, type Transaction } from "sequelize";
import {
	AuthActions,
	type AuthTokens,
	type LoginParams,
	type ParamsOf,
	type PublicUser,
	type RefreshParams,
	type RegisterParams,
	type RequestMeta,
	type ResultOf,
	type Role,
} from "../../shared/contracts.js";
import { ConflictError, NotFoundError, UnauthorizedError } from "../../shared/errors.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import type { ShopService } from "../../shared/service-settings.js";
import { signAccessToken } from "../../shared/tokens.js";
import { fieldsError } from "../../shared/validation.js";
import { migrations } from "./migrations/index.js";
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from "./password.js";
import { passwordProblems } from "./password-policy.js";
import { SessionRepository } from "./session.repository.js";
import { toPublicUser, UserRepository, type StoredUser } from "./user.repository.js";

type AuthThis = ShopService &
	PostgresThis & {
		users: UserRepository;
		sessions: SessionRepository;
		issueTokens(user: StoredUser, session?: SessionPlace, transaction?: Transaction): Promise<AuthTokens>;
	};

/** Where a new session goes: its id, and the family it belongs to. */
type SessionPlace = { id: string; familyId: string };

/** A log-in's session: the first of its family. */
const newSessionPlace = (): SessionPlace => {
	const id = randomUUID();
	return { id, familyId: id };
};

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

const AuthService: ServiceSchema<ServiceSettingSchema, AuthThis> = {
	name: "auth",

	mixins: [PostgresMixin({ schema: "auth", migrations })],

	actions: {
		register: {
			params: AuthActions.register.params,
			async handler(this: AuthThis, ctx: Context<RegisterParams>): Promise<AuthTokens> {
				const { email, password, name } = ctx.params;
				const weak = passwordProblems(password, email);
				if (weak.length) throw fieldsError(weak);
				// Hashed first, and a taken email told by the unique index: a free email and a
				// taken one take as long, so the answer's time does not tell which is which.
				const passwordHash = await hashPassword(password);
				try {
					const user = await this.users.insert({ id: randomUUID(), email, name, passwordHash, role: "customer" });
					(ctx.meta as RequestMeta).$statusCode = 201;
					return await this.issueTokens(user);
				} catch (err) {
					// The unique index on lower(email) decides, also between registrations racing for one email.
					if (err instanceof UniqueConstraintError) throw new ConflictError("EMAIL_TAKEN", "An account with this email already exists");
					throw err;
				}
			},
		},

		login: {
			params: AuthActions.login.params,
			async handler(this: AuthThis, ctx: Context<LoginParams>): Promise<AuthTokens> {
				const user = await this.users.findByEmail(ctx.params.email);
				const valid = await verifyPassword(ctx.params.password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
				if (!user || !valid) throw new UnauthorizedError("INVALID_CREDENTIALS", "Email or password is wrong");
				return this.issueTokens(user);
			},
		},

		refresh: {
			params: AuthActions.refresh.params,
			async handler(this: AuthThis, ctx: Context<RefreshParams>): Promise<AuthTokens> {
				const invalid = () => new UnauthorizedError("INVALID_REFRESH_TOKEN", "The refresh token is invalid or expired");
				const session = await this.sessions.findByTokenHash(hashToken(ctx.params.refreshToken));
				if (!session) throw invalid();
				if (session.replacedBy) {
					// Used before: whoever holds it now (a thief, or its owner after a thief) is not
					// told which, and the tokens made from it stop working for both.
					const revoked = await this.sessions.revokeFamily(session.familyId);
					this.logger.warn(
						`A replaced refresh token of user ${session.userId} was presented again; its family (${revoked} live session(s)) is revoked`,
					);
					throw invalid();
				}
				const user = session.revokedAt || session.expiresAt <= new Date() ? null : await this.users.findById(session.userId);
				if (!user) throw invalid();
				// Rotation: a refresh token is good for one use, and its successor stays in its family.
				return this.withTransaction(async (transaction) => {
					const successorId = randomUUID();
					if (!(await this.sessions.replace(session.id, successorId, transaction))) throw invalid();
					return this.issueTokens(user, { id: successorId, familyId: session.familyId }, transaction);
				});
			},
		},

		logout: {
			params: AuthActions.logout.params,
			async handler(this: AuthThis, ctx: Context<RefreshParams>): Promise<ResultOf<typeof AuthActions.logout>> {
				await this.sessions.revokeByTokenHash(hashToken(ctx.params.refreshToken));
				return { loggedOut: true };
			},
		},

		me: {
			permissions: ["authenticated"],
			params: AuthActions.me.params,
			async handler(this: AuthThis, ctx: Context<unknown, RequestMeta>): Promise<PublicUser> {
				const user = await this.users.findById(ctx.meta.user!.id);
				if (!user) throw new NotFoundError("USER_NOT_FOUND", "The account no longer exists");
				return toPublicUser(user);
			},
		},

		ensureAdmin: {
			visibility: "public",
			callers: ["operator"],
			params: AuthActions.ensureAdmin.params,
			async handler(this: AuthThis, ctx: Context<ParamsOf<typeof AuthActions.ensureAdmin>>): Promise<ResultOf<typeof AuthActions.ensureAdmin>> {
				const weak = passwordProblems(ctx.params.password, ctx.params.email);
				if (weak.length) throw fieldsError(weak);
				const existing = await this.users.findByEmail(ctx.params.email);
				// Never promotes a shopper's account behind its owner's back.
				if (existing && existing.role !== "admin") throw new ConflictError("EMAIL_TAKEN", "This email belongs to a customer account, not an admin");
				if (existing) return { created: false, user: toPublicUser(existing) };
				const role: Role = "admin";
				const user = await this.users.insert({
					id: randomUUID(),
					email: ctx.params.email,
					name: ctx.params.name,
					passwordHash: await hashPassword(ctx.params.password),
					role,
				});
				this.logger.info(`Admin account ${user.email} created`);
				return { created: true, user: toPublicUser(user) };
			},
		},
	},

	methods: {
		/** A new session (a new family, unless it continues one) and its tokens. */
		async issueTokens(this: AuthThis, user: StoredUser, session: SessionPlace = newSessionPlace(), transaction?: Transaction): Promise<AuthTokens> {
			const { jwtSecret, accessTokenTtlSeconds, refreshTokenTtlSeconds } = this.settings.config;
			const refreshToken = randomBytes(32).toString("base64url");
			await this.sessions.insert(
				{
					...session,
					userId: user.id,
					tokenHash: hashToken(refreshToken),
					expiresAt: new Date(Date.now() + refreshTokenTtlSeconds * 1000),
				},
				transaction,
			);
			const accessToken = await signAccessToken({ id: user.id, email: user.email, role: user.role }, jwtSecret, accessTokenTtlSeconds);
			return { accessToken, refreshToken, expiresIn: accessTokenTtlSeconds, user: toPublicUser(user) };
		},
	},

	created(this: AuthThis) {
		this.users = new UserRepository(this.sequelize);
		this.sessions = new SessionRepository(this.sequelize);
	},
};

export default AuthService;
