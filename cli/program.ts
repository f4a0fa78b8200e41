import { Command, CommanderError } from "commander";
import { Errors } from "moleculer";
import { ConfigError } from "../shared/config.js";
import { ApiError } from "../client/api-client.js";
import { adminCreateCommand } from "./commands/admin-create.js";
import { healthCommand } from "./commands/health.js";
import { logsCommand } from "./commands/logs.js";
import { productsCommand } from "./commands/products.js";
import { seedCommand } from "./commands/seed.js";
import { CliError, type CliIO } from "./common.js";

/**
 * The operators' CLI: every command writes through `io` and throws on failure
 * (see runCli). Options fall back on environment variables through
 * commander's Option.env(), which reads process.env.
 */
function createProgram(io: CliIO): Command {
	const program = new Command("shop")
		.description("Operators' tools for the Moleculer shop")
		.exitOverride()
		.showHelpAfterError("(add --help to see the options and the environment variables they fall back on)")
		.configureOutput({
			writeOut: (text) => io.out(text.replace(/\n$/, "")),
			writeErr: (text) => io.err(text.replace(/\n$/, "")),
		});
	for (const add of [healthCommand, seedCommand, adminCreateCommand, productsCommand, logsCommand]) add(program, io);
	return program;
}

/** Runs one command line (without the node and script arguments); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
	try {
		await createProgram(io).parseAsync(argv, { from: "user" });
		return 0;
	} catch (err) {
		// Commander has already printed its own usage errors and help.
		if (err instanceof CommanderError) return err.exitCode;
		io.err(`error: ${describeError(err)}`);
		return 1;
	}
}

function describeError(err: unknown): string {
	if (err instanceof ApiError) return err.describe();
	if (err instanceof CliError) return `${err.code}: ${err.message}`;
	if (err instanceof ConfigError) return `INVALID_CONFIG: ${err.message}`;
	if (err instanceof Errors.MoleculerError) {
		const fields =
			err.name === "ValidationError" && Array.isArray(err.data) ? ` (${(err.data as { message: string }[]).map((d) => d.message).join("; ")})` : "";
		return `${err.type || err.name}: ${err.message}${fields}`;
	}
	return `UNEXPECTED: ${(err as Error)?.message ?? String(err)}`;
}
