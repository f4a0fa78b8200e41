import type { Command } from "commander";
import { ApiClient } from "../../client/api-client.js";
import { apiOption, CliError, type CliIO } from "../common.js";

export function healthCommand(program: Command, io: CliIO): void {
	program
		.command("health")
		.description("Check the API's readiness (GET /api/health/ready); exit code 1 when not ready")
		.addOption(apiOption())
		.action(async (opts: { api: string }) => {
			const client = new ApiClient(opts.api);
			const report = await client.readiness();
			const names = Object.keys(report.checks).sort();
			const width = Math.max(0, ...names.map((n) => n.length));
			io.out(`${client.baseUrl}: ${report.status === "ok" ? "ready" : "NOT READY"}`);
			for (const name of names) {
				const state = report.checks[name];
				io.out(`  ${state === "up" ? "ok  " : "FAIL"}  ${name.padEnd(width)}  ${state}`);
			}
			if (report.status !== "ok") {
				const down = names.filter((n) => report.checks[n] !== "up");
				throw new CliError("NOT_READY", `not ready: ${down.join(", ") || "see the checks above"}`);
			}
		});
}
