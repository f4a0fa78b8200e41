import type { Context, Service, ServiceBroker, ServiceSchema } from "moleculer";
import pTimeout from "p-timeout";

/**
 * Readiness, in every shape. Each service checks the dependencies it uses
 * itself (its PostgreSQL pool, MongoDB, its Redis stream, its RabbitMQ
 * publisher) through probes registered by the mixins that open those
 * connections, and answers for them in its `<service>.health` action
 * (HealthMixin). The gateway's readiness route calls that action on every
 * node that runs a service, over the transporter, so a node elsewhere is
 * checked as truly as the gateway's own process.
 */
export type HealthProbe = () => Promise<unknown>;

/** "up", or "down: <reason>". */
export type CheckState = string;

export interface HealthReport {
	checks: Record<string, CheckState>;
}

/** How long one probe, and one node's whole report, may take. */
export const PROBE_TIMEOUT_MS = 2000;
const REPORT_TIMEOUT_MS = PROBE_TIMEOUT_MS + 500;

type WithProbes = Service & { healthProbes?: Map<string, HealthProbe> };

/** Registers a probe of a dependency the service uses; the name is the dependency's ("postgres", "mongodb", ...). */
export function registerHealthProbe(service: Service, name: string, probe: HealthProbe): void {
	const holder = service as WithProbes;
	holder.healthProbes ??= new Map();
	holder.healthProbes.set(name, probe);
}

/** Resolves to "up" or to the reason the probe failed, never slower than `timeoutMs`. */
export async function runProbe(probe: HealthProbe, timeoutMs = PROBE_TIMEOUT_MS): Promise<CheckState> {
	try {
		await pTimeout(probe(), { milliseconds: timeoutMs, message: `no answer within ${timeoutMs} ms` });
		return "up";
	} catch (err) {
		return `down: ${(err as Error).message}`;
	}
}

/**
 * Gives a service its `health` action. Mixed in by every mixin that registers
 * a probe, so a service has it as soon as it uses a dependency; a service
 * mixing it twice still has one action.
 */
export const HealthMixin: Partial<ServiceSchema> = {
	actions: {
		/** Internal (the gateway's readiness): this node's probes of this service's dependencies. */
		health: {
			visibility: "public",
			params: {},
			async handler(this: WithProbes): Promise<HealthReport> {
				const probes = [...(this.healthProbes ?? new Map<string, HealthProbe>())];
				const states = await Promise.all(probes.map(([, probe]) => runProbe(probe)));
				return { checks: Object.fromEntries(probes.map(([name], i) => [name, states[i]])) };
			},
		},
	},
};

export interface Readiness {
	ready: boolean;
	/** Each check by name, "up" or "down": the reasons go to the log, not to an anonymous caller. */
	checks: Record<string, "up" | "down">;
	/** What is down, by check name: the node and the reason, for the log. */
	problems: Map<string, string>;
}

interface ServiceOnNode {
	name: string;
	nodeID: string;
	actions?: Record<string, unknown>;
}

/**
 * The whole system's readiness, as the gateway on `broker` sees it:
 * - its own transporter and cacher connections (`rabbitmq`, `redis`);
 * - `service:<name>` for each service it routes to: some node runs it;
 * - `<service>:<dependency>` for each probe of each service on each node;
 *   down when it is down on any node (a replica that cannot serve is an
 *   outage for the requests routed to it), `<service>:health` when a node
 *   did not answer in time.
 * Bounded: every node is asked at once, each answer waited for at most
 * REPORT_TIMEOUT_MS.
 */
export async function checkReadiness(ctx: Context, routedServices: readonly string[]): Promise<Readiness> {
	const broker: ServiceBroker = ctx.broker;
	const states = new Map<string, { state: CheckState; where: string }[]>();
	const record = (name: string, state: CheckState, where: string) => {
		const list = states.get(name) ?? [];
		list.push({ state, where });
		states.set(name, list);
	};
	const self = `node ${broker.nodeID}`;

	if (broker.transit) record("rabbitmq", broker.transit.connected ? "up" : "down: transporter disconnected", self);
	const cacher = broker.cacher as unknown as { client?: { ping(): Promise<string> } } | null;
	if (cacher?.client) record("redis", await runProbe(() => cacher.client!.ping()), self);

	const running = broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: true }) as ServiceOnNode[];
	for (const name of routedServices) {
		if (!running.some((s) => s.name === name)) record(`service:${name}`, "down: no node runs it", "the cluster");
		else record(`service:${name}`, "up", "the cluster");
	}

	await Promise.all(
		running
			.filter((s) => s.actions?.[`${s.name}.health`])
			.map(async (s) => {
				const where = `node ${s.nodeID}`;
				try {
					const report = await ctx.call<HealthReport, object>(`${s.name}.health`, {}, { nodeID: s.nodeID, timeout: REPORT_TIMEOUT_MS, retries: 0 });
					for (const [dependency, state] of Object.entries(report.checks)) record(`${s.name}:${dependency}`, state, where);
				} catch (err) {
					record(`${s.name}:health`, `down: ${(err as Error).message}`, where);
				}
			}),
	);

	const checks: Readiness["checks"] = {};
	const problems = new Map<string, string>();
	for (const [name, list] of [...states].sort(([a], [b]) => a.localeCompare(b))) {
		const down = list.filter((entry) => entry.state !== "up");
		checks[name] = down.length ? "down" : "up";
		if (down.length) problems.set(name, down.map((entry) => `${entry.state} (${entry.where})`).join("; "));
	}
	return { ready: problems.size === 0, checks, problems };
}

type Logger = { warn(message: string): void; info(message: string): void; debug(message: string): void };

/**
 * Logs what changed between readiness checks, not every check: an
 * orchestrator polls readiness every few seconds, and a check that is down
 * while the cluster starts is not news. A check going down is a warning, its
 * coming back is info.
 */
export class ReadinessLog {
	private readonly last = new Map<string, "up" | "down">();
	/** Checks whose going down was warned about: their coming back is told too. */
	private readonly warned = new Set<string>();

	constructor(private readonly logger: Logger) {}

	record({ checks, problems }: Readiness): void {
		for (const [name, state] of Object.entries(checks)) {
			const before = this.last.get(name);
			this.last.set(name, state);
			if (state === "down" && before === "up") {
				this.warned.add(name);
				this.logger.warn(`Readiness: ${name} is ${problems.get(name)}`);
			} else if (state === "down" && before === undefined) {
				this.logger.debug(`Readiness: ${name} is ${problems.get(name)}`);
			} else if (state === "up" && this.warned.delete(name)) {
				this.logger.info(`Readiness: ${name} is up again`);
			}
		}
	}
}
