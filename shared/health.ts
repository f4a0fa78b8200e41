import type { ServiceBroker } from "moleculer";

/**
 * Each mixin that opens a connection registers a probe here, keyed by the
 * broker, so the gateway's readiness route can check every dependency of its
 * own process without knowing which services run in it.
 */
export type HealthProbe = () => Promise<unknown>;

const probesByBroker = new WeakMap<ServiceBroker, Map<string, HealthProbe>>();

export function registerHealthProbe(broker: ServiceBroker, name: string, probe: HealthProbe): void {
	let probes = probesByBroker.get(broker);
	if (!probes) {
		probes = new Map();
		probesByBroker.set(broker, probes);
	}
	probes.set(name, probe);
}

export function healthProbes(broker: ServiceBroker): ReadonlyMap<string, HealthProbe> {
	return probesByBroker.get(broker) ?? new Map();
}

/** Resolves to "up" or to the reason the probe failed, never slower than `timeoutMs`. */
export async function runProbe(probe: HealthProbe, timeoutMs = 2000): Promise<string> {
	let timer: NodeJS.Timeout | undefined;
	try {
		await Promise.race([
			probe(),
			new Promise((_, reject) => {
				timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
			}),
		]);
		return "up";
	} catch (err) {
		return `down: ${(err as Error).message}`;
	} finally {
		clearTimeout(timer);
	}
}
