import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import { TooManyRequestsError } from "./errors.js";

export interface AuthRateLimitOptions {
	/** Keys go under `<namespace>:rate-limit:`, like the namespace's other Redis keys. */
	namespace: string;
	/** Shared by every gateway node, so they spend one budget; without it each node counts alone. */
	redis?: Redis;
	/** Log-in attempts on one account, per window, before the next is refused; a successful one starts again. */
	loginAttemptsPerAccount: number;
	loginWindowSeconds: number;
	/** Log-in, registration and refresh requests from one client address per minute. */
	authRequestsPerMinute: number;
}

/**
 * The limits on the routes that guess or spend credentials (log in,
 * register, refresh), counted in Redis so that every gateway node shares them
 * (rate-limiter-flexible). Per account: the attempts on one email, so
 * guessing its password from many addresses is slowed as much as from one.
 * Per client address: the socket's own address, never X-Forwarded-For, which
 * a client writes itself. While Redis is away each node counts in memory.
 */
export class AuthRateLimits {
	private readonly loginAttempts: RateLimiterAbstract;
	private readonly authRequests: RateLimiterAbstract;

	constructor(options: AuthRateLimitOptions) {
		const limiter = (name: string, points: number, duration: number): RateLimiterAbstract => {
			const memory = new RateLimiterMemory({ keyPrefix: name, points, duration });
			if (!options.redis) return memory;
			return new RateLimiterRedis({
				storeClient: options.redis,
				keyPrefix: `${options.namespace}:rate-limit:${name}`,
				points,
				duration,
				insuranceLimiter: memory,
			});
		};
		this.loginAttempts = limiter("login-attempts", options.loginAttemptsPerAccount, options.loginWindowSeconds);
		this.authRequests = limiter("auth-requests", options.authRequestsPerMinute, 60);
	}

	/** Counts a log-in, registration or refresh request from `address`; throws TooManyRequestsError past the limit. */
	async admitRequest(address: string): Promise<void> {
		await spend(this.authRequests, address, "Too many requests from this address; try again later");
	}

	/** Counts a log-in attempt on `email`; throws TooManyRequestsError past the limit, whatever the password. */
	async admitLogin(email: string): Promise<void> {
		await spend(this.loginAttempts, accountKey(email), "Too many log-in attempts on this account; try again later");
	}

	/** The account's owner got in: its attempts start again. */
	async loginSucceeded(email: string): Promise<void> {
		await this.loginAttempts.delete(accountKey(email));
	}
}

/** Emails are one account whatever their case or the spaces around them, as the auth service reads them. */
const accountKey = (email: string) => email.trim().toLowerCase();

async function spend(limiter: RateLimiterAbstract, key: string, message: string): Promise<void> {
	try {
		await limiter.consume(key);
	} catch (refusal) {
		if (!(refusal instanceof RateLimiterRes)) throw refusal;
		throw new TooManyRequestsError(message, Math.max(1, Math.ceil(refusal.msBeforeNext / 1000)));
	}
}
