import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { AuthUser, Role } from "./contracts.js";
import { UnauthorizedError } from "./errors.js";

/**
 * Access tokens are short-lived HS256 JWTs. The auth service signs them; the
 * gateway and the websocket service verify them locally so that a request does
 * not need a round trip to auth.
 */
const ISSUER = "moleculer-shop";
const AUDIENCE = "moleculer-shop:api";

const keyCache = new Map<string, Uint8Array>();
function key(secret: string): Uint8Array {
	let cached = keyCache.get(secret);
	if (!cached) {
		cached = new TextEncoder().encode(secret);
		keyCache.set(secret, cached);
	}
	return cached;
}

export async function signAccessToken(user: AuthUser, secret: string, ttlSeconds: number): Promise<string> {
	return new SignJWT({ email: user.email, role: user.role })
		.setProtectedHeader({ alg: "HS256" })
		.setSubject(user.id)
		.setIssuer(ISSUER)
		.setAudience(AUDIENCE)
		.setIssuedAt()
		.setExpirationTime(`${ttlSeconds}s`)
		.sign(key(secret));
}

export async function verifyAccessToken(token: string, secret: string): Promise<AuthUser> {
	try {
		const { payload } = await jwtVerify(token, key(secret), { issuer: ISSUER, audience: AUDIENCE, algorithms: ["HS256"] });
		const role = payload.role as Role;
		if (typeof payload.sub !== "string" || typeof payload.email !== "string" || (role !== "admin" && role !== "customer")) {
			throw new UnauthorizedError("INVALID_TOKEN", "The access token is malformed");
		}
		return { id: payload.sub, email: payload.email, role };
	} catch (err) {
		if (err instanceof UnauthorizedError) throw err;
		if (err instanceof joseErrors.JWTExpired) throw new UnauthorizedError("INVALID_TOKEN", "The access token has expired");
		throw new UnauthorizedError("INVALID_TOKEN", "The access token is invalid");
	}
}
