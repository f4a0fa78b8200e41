import { ReadinessLog, runProbe, type Readiness } from "./health.js";

const readiness = (checks: Readiness["checks"], problems: Record<string, string> = {}): Readiness => ({
	ready: Object.values(checks).every((state) => state === "up"),
	checks,
	problems: new Map(Object.entries(problems)),
});

describe("runProbe", () => {
	it("is up when the probe resolves, down with the reason when it rejects or does not answer in time", async () => {
		expect(await runProbe(async () => "pong")).toBe("up");
		expect(await runProbe(async () => Promise.reject(new Error("ECONNREFUSED")))).toBe("down: ECONNREFUSED");
		expect(await runProbe(() => new Promise(() => undefined), 20)).toBe("down: no answer within 20 ms");
	});
});

describe("ReadinessLog", () => {
	it("warns when a check goes down, says when it is back, and is quiet while nothing changes or the cluster starts", () => {
		const lines: string[] = [];
		const log = new ReadinessLog({ warn: (m) => lines.push(`WARN ${m}`), info: (m) => lines.push(`INFO ${m}`), debug: () => undefined });
		// Starting: down before it was ever up is not news.
		log.record(readiness({ "service:order": "down" }, { "service:order": "down: no node runs it (the cluster)" }));
		log.record(readiness({ "service:order": "up" }));
		log.record(readiness({ "service:order": "up", "product:mongodb": "up" }));
		expect(lines).toEqual([]);

		log.record(readiness({ "service:order": "up", "product:mongodb": "down" }, { "product:mongodb": "down: not connected (node p-1)" }));
		log.record(readiness({ "service:order": "up", "product:mongodb": "down" }, { "product:mongodb": "down: not connected (node p-1)" }));
		log.record(readiness({ "service:order": "up", "product:mongodb": "up" }));
		expect(lines).toEqual(["WARN Readiness: product:mongodb is down: not connected (node p-1)", "INFO Readiness: product:mongodb is up again"]);
	});
});
