import { InvalidArgumentError } from "commander";
import { DEFAULT_API_URL } from "../client/api-client.js";

/** Where a command writes and what environment it reads; the real one is the process's. */
export interface CliIO {
	out(line: string): void;
	err(line: string): void;
	env: Record<string, string | undefined>;
}

/** A failure the CLI reports itself: printed as `error: CODE: message`, exit code 1. */
export class CliError extends Error {
	constructor(
		readonly code: string,
		message: string,
	) {
		super(message);
		this.name = "CliError";
	}
}

export const apiUrl = (opts: { api?: string }, io: CliIO): string => opts.api ?? io.env.SHOP_API_URL ?? DEFAULT_API_URL;

/** The admin's credentials from --email/--password, else ADMIN_EMAIL/ADMIN_PASSWORD. */
export function adminCredentials(opts: { email?: string; password?: string }, io: CliIO): { email: string; password: string } {
	const email = opts.email ?? io.env.ADMIN_EMAIL;
	const password = opts.password ?? io.env.ADMIN_PASSWORD;
	if (!email || !password) throw new CliError("MISSING_CREDENTIALS", "pass --email and --password (or set ADMIN_EMAIL and ADMIN_PASSWORD)");
	return { email, password };
}

export function positiveInteger(value: string): number {
	const parsed = Number(value);
	if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("must be a positive integer");
	return parsed;
}
