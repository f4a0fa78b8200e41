import type { Role } from "./common.js";
import { action, type CallParamsOf, type ParamsOf } from "./params.js";

export interface PublicUser {
	id: string;
	email: string;
	name: string;
	role: Role;
	createdAt: string;
}

export interface AuthTokens {
	accessToken: string;
	refreshToken: string;
	expiresIn: number;
	user: PublicUser;
}

const email = { type: "email", normalize: true, max: 254 } as const;
const refreshToken = { type: "string", min: 20, max: 200 } as const;

export const AuthActions = {
	register: action<AuthTokens>()("auth.register", {
		email,
		password: { type: "string", min: 8, max: 128 },
		name: { type: "string", trim: true, min: 1, max: 100 },
	}),
	// Any length: a password that could never have been set is just a wrong one.
	login: action<AuthTokens>()("auth.login", { email, password: { type: "string", min: 1, max: 128 } }),
	refresh: action<AuthTokens>()("auth.refresh", { refreshToken }),
	logout: action<{ loggedOut: true }>()("auth.logout", { refreshToken }),
	me: action<PublicUser>()("auth.me", {}),
	/** Internal (start-up seeding and the CLI): creates the admin unless the email exists. */
	ensureAdmin: action<{ created: boolean; user: PublicUser }>()("auth.ensureAdmin", {
		email,
		password: { type: "string", min: 8, max: 128 },
		name: { type: "string", min: 1, max: 100, default: "Administrator" },
	}),
} as const;

export type RegisterParams = ParamsOf<typeof AuthActions.register>;
export type LoginParams = ParamsOf<typeof AuthActions.login>;
export type RefreshParams = ParamsOf<typeof AuthActions.refresh>;
export type EnsureAdminParams = CallParamsOf<typeof AuthActions.ensureAdmin>;
