import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { AuthUser, Role } from "./contracts.js";
import { UnauthorizedError } from "./errors.js";

/**
 * Access tokens are short-lived HS256 JWTs. The auth service signs them; the
 * gateway and the websocket service verify them locally so that a request does
 * not need a round trip to auth. What is verified, besides the signature: the
 * algorithm (HS256 only: never `none`), the type (`at+jwt`, RFC 9068, so no
 * other JWT signed with the key passes for one), issuer, audience, subject,
 * an expiry that has not passed, and a lifetime no longer than the service
 * issues (a token valid for ten years is not one of ours, whoever signed it).
 */
const ISSUER = "moleculer-shop";
const AUDIENCE = "moleculer-shop:api";
const TYPE = "at+jwt";

/** What `Authorization` must hold: the scheme (any case, RFC 9110) and one compact JWT, nothing after it. */
const BEARER = /^bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i;

/** The access token in an `Authorization` header, or null when the header is not `Bearer <token>`. */
export function bearerToken(header: string): string | null {
	return BEARER.exec(header)?.[1] ?? null;
}

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
		.setProtectedHeader({ alg: "HS256", typ: TYPE })
		.setSubject(user.id)
		.setIssuer(ISSUER)
		.setAudience(AUDIENCE)
		.setIssuedAt()
		.setExpirationTime(`${ttlSeconds}s`)
		.sign(key(secret));
}

/** The user an access token names; `maxLifetimeSeconds` is the longest the auth service issues (ACCESS_TOKEN_TTL_SECONDS). */
export async function verifyAccessToken(token: string, secret: string, maxLifetimeSeconds: number): Promise<AuthUser> {
	try {
		const { payload } = await jwtVerify(token, key(secret), {
			issuer: ISSUER,
			audience: AUDIENCE,
			algorithms: ["HS256"],
			typ: TYPE,
			requiredClaims: ["sub", "iat", "exp"],
		});
		if (payload.exp! - payload.iat! > maxLifetimeSeconds) throw new UnauthorizedError("INVALID_TOKEN", "The access token is invalid");
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
