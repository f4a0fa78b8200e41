import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Command } from "commander";
import { ServiceBroker } from "moleculer";
import pTimeout from "p-timeout";
import { createBrokerOptions } from "../../moleculer.config.js";
import { loadConfig } from "../../shared/config.js";
import { callAction } from "../../shared/call-action.js";
import { AuthActions } from "../../shared/contracts.js";
import { adminEmailOption, adminPasswordOption, CliError, positiveInteger, type CliIO } from "../common.js";

interface AdminCreateOptions {
	email: string;
	password: string;
	name?: string;
	timeout: number;
	verbose?: boolean;
}

/** The URL without its password, for messages. */
const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/g, "//$1:***@");

export function adminCreateCommand(program: Command, io: CliIO): void {
	program
		.command("admin:create")
		.description("Create an admin account (joins the cluster as a Moleculer node over TRANSPORTER and calls auth.ensureAdmin)")
		.addOption(adminEmailOption("the admin's email"))
		.addOption(adminPasswordOption("the admin's password, at least 8 characters"))
		.option("--name <name>", "the admin's display name")
		.option("--timeout <seconds>", "how long to wait for the cluster and its auth service", positiveInteger, 20)
		.option("--verbose", "show the broker's own log")
		.addHelpText("after", "\nLike every node, it reads the cluster's settings from the environment: TRANSPORTER, CLUSTER_SECRET, JWT_SECRET, NAMESPACE.")
		.action(async (opts: AdminCreateOptions) => {
			const { email, password } = opts;
			const config = loadConfig(process.env);
			if (!config.transporterUrl) {
				throw new CliError(
					"NO_TRANSPORTER",
					"admin:create joins the cluster as a Moleculer node: set TRANSPORTER to the cluster's RabbitMQ URL (amqp://...)",
				);
			}
			const broker = new ServiceBroker({
				...createBrokerOptions(config),
				// Its own node id, so it never collides with a node of the cluster on this host.
				nodeID: `cli-${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`,
				// The command owns its lifecycle: no process.exit(0) from the broker on a signal.
				skipProcessEventRegistration: true,
				...(opts.verbose ? {} : { logger: false }),
			});
			try {
				const joined = (async () => {
					await broker.start();
					await broker.waitForServices(["auth"], opts.timeout * 1000);
				})();
				await pTimeout(joined, {
					milliseconds: opts.timeout * 1000,
					message: new CliError(
						"CLUSTER_UNAVAILABLE",
						`no auth service answered within ${opts.timeout} s on ${redact(config.transporterUrl!)} (namespace "${config.namespace}"): is the cluster running?`,
					),
				});
				const params = { email, password, ...(opts.name ? { name: opts.name } : {}) };
				const { created, user } = await callAction(broker, AuthActions.ensureAdmin, params).catch((err: { type?: string }) => {
					// auth refuses to turn a shopper's account into an admin.
					if (err.type === "EMAIL_TAKEN")
						throw new CliError("NOT_AN_ADMIN", `${email} already has an account with the role customer; it was not made an admin`);
					throw err;
				});
				io.out(created ? `Created admin ${user.email} (${user.id}).` : `The admin ${user.email} already exists; nothing changed.`);
			} finally {
				await pTimeout(broker.stop(), { milliseconds: 10_000, message: new CliError("STOP_TIMEOUT", "the broker did not stop within 10 s") });
				// Moleculer debounces its INFO broadcast by a second and leaves that
				// timer running after stop(); cancel it so a host process (a test) is not held.
				(broker.localServiceChanged as unknown as { cancel?: () => void }).cancel?.();
			}
		});
}
