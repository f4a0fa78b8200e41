import type { Command } from "commander";
import { ApiClient } from "../../client/api-client.js";
import { formatTime, table } from "../../client/format.js";
import { adminEmailOption, adminPasswordOption, apiOption, positiveInteger, type CliIO } from "../common.js";

interface LogsOptions {
	api: string;
	email: string;
	password: string;
	status?: number;
	path?: string;
	limit?: number;
}

export function logsCommand(program: Command, io: CliIO): void {
	program
		.command("logs")
		.description("Show the latest access log entries (admin; GET /api/logs)")
		.addOption(apiOption())
		.addOption(adminEmailOption("admin email"))
		.addOption(adminPasswordOption("admin password"))
		.option("--status <code>", "only this HTTP status", positiveInteger)
		.option("--path <prefix>", "only paths starting with this, e.g. /api/orders")
		.option("--limit <n>", "at most this many entries (default 100, at most 500)", positiveInteger)
		.action(async (opts: LogsOptions) => {
			const client = new ApiClient(opts.api);
			await client.login(opts.email, opts.password);
			const { items } = await client.listLogs({ status: opts.status, path: opts.path, limit: opts.limit });
			if (!items.length) {
				io.out("No log entries match.");
				return;
			}
			const lines = table(items, [
				{ header: "AT (UTC)", value: (e) => formatTime(e.at) },
				{ header: "STATUS", value: (e) => String(e.status), align: "right" },
				{ header: "METHOD", value: (e) => e.method },
				{ header: "PATH", value: (e) => e.path },
				{ header: "MS", value: (e) => String(e.durationMs), align: "right" },
				{ header: "USER", value: (e) => e.userId ?? "-" },
				{ header: "REQUEST", value: (e) => e.requestId },
			]);
			for (const line of lines) io.out(line);
		});
}
