import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { Context, Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import { Op, UniqueConstraintError, where, fn, col } from "sequelize";
import { loadConfig, type AppConfig } from "../../shared/config.js";
import type { AuthTokens, EnsureAdminParams, LoginParams, PublicUser, RefreshParams, RegisterParams, RequestMeta, Role } from "../../shared/contracts.js";
import { ConflictError, NotFoundError, UnauthorizedError } from "../../shared/errors.js";
import { PostgresMixin, type PostgresThis } from "../../shared/mixins/postgres.mixin.js";
import { signAccessToken } from "../../shared/tokens.js";
import { migrations } from "./migrations/index.js";
import { defineAuthModels, Session, User } from "./models.js";
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from "./password.js";

type AuthThis = Service &
	PostgresThis & {
		config: AppConfig;
		findByEmail(email: string): Promise<User | null>;
		issueTokens(user: User): Promise<AuthTokens>;
	};

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

const credentials = {
	email: { type: "email", normalize: true, max: 254 },
	password: { type: "string", min: 8, max: 128 },
} as const;

const AuthService: ServiceSchema<ServiceSettingSchema, AuthThis> = {
	name: "auth",

	mixins: [PostgresMixin({ schema: "auth", migrations, defineModels: defineAuthModels })],

	actions: {
		register: {
			params: { $$strict: "remove", ...credentials, name: { type: "string", trim: true, min: 1, max: 100 } },
			async handler(this: AuthThis, ctx: Context<RegisterParams>): Promise<AuthTokens> {
				const { email, password, name } = ctx.params;
				if (await this.findByEmail(email)) throw new ConflictError("EMAIL_TAKEN", "An account with this email already exists");
				try {
					const user = await User.create({ id: randomUUID(), email, name, passwordHash: await hashPassword(password), role: "customer" });
					(ctx.meta as RequestMeta).$statusCode = 201;
					return await this.issueTokens(user);
				} catch (err) {
					// Two registrations racing for one email: the unique index decides.
					if (err instanceof UniqueConstraintError) throw new ConflictError("EMAIL_TAKEN", "An account with this email already exists");
					throw err;
				}
			},
		},

		login: {
			params: { $$strict: "remove", email: credentials.email, password: { type: "string", min: 1, max: 128 } },
			async handler(this: AuthThis, ctx: Context<LoginParams>): Promise<AuthTokens> {
				const user = await this.findByEmail(ctx.params.email);
				const valid = await verifyPassword(ctx.params.password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
				if (!user || !valid) throw new UnauthorizedError("INVALID_CREDENTIALS", "Email or password is wrong");
				return this.issueTokens(user);
			},
		},

		refresh: {
			params: { $$strict: "remove", refreshToken: { type: "string", min: 20, max: 200 } },
			async handler(this: AuthThis, ctx: Context<RefreshParams>): Promise<AuthTokens> {
				const session = await Session.findOne({
					where: { tokenHash: hashToken(ctx.params.refreshToken), revokedAt: null, expiresAt: { [Op.gt]: new Date() } },
				});
				const user = session && (await User.findByPk(session.userId));
				if (!session || !user) throw new UnauthorizedError("INVALID_REFRESH_TOKEN", "The refresh token is invalid or expired");
				// Rotation: a refresh token is good for one use.
				const [revoked] = await Session.update({ revokedAt: new Date() }, { where: { id: session.id, revokedAt: null } });
				if (!revoked) throw new UnauthorizedError("INVALID_REFRESH_TOKEN", "The refresh token is invalid or expired");
				return this.issueTokens(user);
			},
		},

		logout: {
			params: { $$strict: "remove", refreshToken: { type: "string", min: 20, max: 200 } },
			async handler(this: AuthThis, ctx: Context<RefreshParams>): Promise<{ loggedOut: true }> {
				await Session.update({ revokedAt: new Date() }, { where: { tokenHash: hashToken(ctx.params.refreshToken), revokedAt: null } });
				return { loggedOut: true };
			},
		},

		me: {
			permissions: ["authenticated"],
			params: {},
			async handler(this: AuthThis, ctx: Context<unknown, RequestMeta>): Promise<PublicUser> {
				const user = await User.findByPk(ctx.meta.user!.id);
				if (!user) throw new NotFoundError("USER_NOT_FOUND", "The account no longer exists");
				return user.toPublic();
			},
		},

		/** Internal (start-up seeding and the CLI): creates the admin unless the email exists. */
		ensureAdmin: {
			visibility: "public",
			params: { ...credentials, name: { type: "string", min: 1, max: 100, default: "Administrator" } },
			async handler(this: AuthThis, ctx: Context<Required<EnsureAdminParams>>): Promise<{ created: boolean; user: PublicUser }> {
				const existing = await this.findByEmail(ctx.params.email);
				// Never promotes a shopper's account behind its owner's back.
				if (existing && existing.role !== "admin") throw new ConflictError("EMAIL_TAKEN", "This email belongs to a customer account, not an admin");
				if (existing) return { created: false, user: existing.toPublic() };
				const role: Role = "admin";
				const user = await User.create({
					id: randomUUID(),
					email: ctx.params.email,
					name: ctx.params.name,
					passwordHash: await hashPassword(ctx.params.password),
					role,
				});
				this.logger.info(`Admin account ${user.email} created`);
				return { created: true, user: user.toPublic() };
			},
		},
	},

	methods: {
		findByEmail(email: string): Promise<User | null> {
			return User.findOne({ where: where(fn("lower", col("email")), email.toLowerCase()) });
		},

		async issueTokens(this: AuthThis, user: User): Promise<AuthTokens> {
			const refreshToken = randomBytes(32).toString("base64url");
			await Session.create({
				id: randomUUID(),
				userId: user.id,
				tokenHash: hashToken(refreshToken),
				expiresAt: new Date(Date.now() + this.config.refreshTokenTtlSeconds * 1000),
				revokedAt: null,
			});
			const accessToken = await signAccessToken({ id: user.id, email: user.email, role: user.role }, this.config.jwtSecret, this.config.accessTokenTtlSeconds);
			return { accessToken, refreshToken, expiresIn: this.config.accessTokenTtlSeconds, user: user.toPublic() };
		},
	},

	created(this: AuthThis) {
		this.config = loadConfig();
	},
};

export default AuthService;
