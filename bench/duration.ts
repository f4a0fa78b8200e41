/** How long each measured run lasts: BENCH_DURATION seconds, or the benchmark's own default. */
export function benchDurationSeconds(fallback: number): number {
	const raw = process.env.BENCH_DURATION;
	if (raw === undefined || raw === "") return fallback;
	const seconds = Number(raw);
	if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`BENCH_DURATION must be a positive number of seconds, got "${raw}"`);
	return seconds;
}
