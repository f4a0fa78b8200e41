import { jest } from "@jest/globals";
import { RateLimitedWarnings } from "./rate-limited-warnings.js";

describe("RateLimitedWarnings", () => {
	let lines: string[];
	let warnings: RateLimitedWarnings;

	beforeEach(() => {
		jest.useFakeTimers();
		lines = [];
		warnings = new RateLimitedWarnings((line) => lines.push(line), 60_000);
	});

	afterEach(() => {
		warnings.stop();
		jest.useRealTimers();
	});

	it("logs the first of a kind at once, counts the rest, and sums them up once the interval has passed", () => {
		warnings.report("unsealed", "Dropped unsealed packets", "INFO");
		for (let i = 0; i < 54; i++) warnings.report("unsealed", "Dropped unsealed packets", "REQ");
		warnings.report("unsealed", "Dropped unsealed packets", "INFO");
		expect(lines).toEqual(["Dropped unsealed packets [INFO]; more like it are counted and reported at most every 60 s"]);

		jest.advanceTimersByTime(60_000);
		expect(lines.slice(1)).toEqual(["Dropped unsealed packets: 55 more since the last report [REQ ×54, INFO ×1]"]);

		// Within a minute of that summary: counted again, not logged.
		warnings.report("unsealed", "Dropped unsealed packets", "EVENT");
		expect(lines).toHaveLength(2);
		jest.advanceTimersByTime(60_000);
		expect(lines.slice(2)).toEqual(["Dropped unsealed packets: 1 more since the last report [EVENT ×1]"]);

		// After a quiet minute, the next one is logged at once.
		jest.advanceTimersByTime(60_000);
		warnings.report("unsealed", "Dropped unsealed packets", "HEARTBEAT");
		expect(lines.slice(3)).toEqual(["Dropped unsealed packets [HEARTBEAT]; more like it are counted and reported at most every 60 s"]);
	});

	it("limits each kind on its own, and stop() reports what is still counted", () => {
		warnings.report("forged", "Dropped forged packets", "REQ");
		warnings.report("stale", "Dropped stale packets", "REQ");
		warnings.report("forged", "Dropped forged packets", "REQ");
		expect(lines).toHaveLength(2);
		warnings.stop();
		expect(lines.slice(2)).toEqual(["Dropped forged packets: 1 more since the last report [REQ ×1]"]);
		jest.advanceTimersByTime(120_000);
		expect(lines).toHaveLength(3);
	});
});
