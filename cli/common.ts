import { InvalidArgumentError, Option } from "commander";
import { DEFAULT_API_URL } from "../client/api-client.js";

/**
 * Where a command writes. What it reads from the environment it reads from
 * process.env, as commander does for the options' fallbacks.
 */
export interface CliIO {
	out(line: string): void;
	err(line: string): void;
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

/** `--api`, else SHOP_API_URL, else the local default; `--help` shows all three. */
export const apiOption = () => new Option("--api <url>", "API base URL").env("SHOP_API_URL").default(DEFAULT_API_URL).argParser(httpUrl);

/**
 * `--email` and `--password`, else ADMIN_EMAIL and ADMIN_PASSWORD (which keep
 * the password out of shell history); one of the two is required, which
 * commander does not show in `--help` by itself.
 */
export const adminEmailOption = (description: string) =>
	new Option("--email <email>", `${description} (required)`).env("ADMIN_EMAIL").argParser(nonEmpty).makeOptionMandatory();
export const adminPasswordOption = (description: string) =>
	new Option("--password <password>", `${description} (required)`).env("ADMIN_PASSWORD").argParser(nonEmpty).makeOptionMandatory();

export function positiveInteger(value: string): number {
	const parsed = Number(value);
	if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("must be a positive integer");
	return parsed;
}

// A variable set to nothing (ADMIN_PASSWORD=) counts as given for commander;
// refused here rather than sent to the API as an empty password.
function nonEmpty(value: string): string {
	if (!value) throw new InvalidArgumentError("must not be empty");
	return value;
}

function httpUrl(value: string): string {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw new InvalidArgumentError("must be an http:// or https:// URL");
	}
	if (url.protocol !== "http:" && url.protocol !== "https:") throw new InvalidArgumentError("must be an http:// or https:// URL");
	return value;
}
