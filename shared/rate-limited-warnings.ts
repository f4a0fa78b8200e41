/**
 * Warnings about something that can come in floods: packets that do not
 * authenticate, forged channel messages. The first of each kind is logged at
 * once; the next ones within `intervalMs` are only counted, and summed up in
 * one line when the interval ends. A misconfigured node or an attacker sending
 * thousands of packets a second then costs a counter each, not a log line
 * each, and cannot bury the log.
 *
 * The caller's message says what happened, never what was received: a
 * dropped packet is not trusted, and may be built to mislead whoever reads
 * the log.
 */
export class RateLimitedWarnings {
	/** When each kind was last logged. */
	private readonly lastLogged = new Map<string, number>();
	/** Per kind, what came since it was last logged: its message and a count per tally (packet type, consumer group). */
	private readonly pending = new Map<string, { message: string; tallies: Map<string, number> }>();
	private timer?: NodeJS.Timeout;

	constructor(
		private readonly log: (message: string) => void,
		private readonly intervalMs = 60_000,
	) {}

	/** One more of `kind`, described by `message`, tallied under `tally`. */
	report(kind: string, message: string, tally: string): void {
		const last = this.lastLogged.get(kind);
		if (!this.pending.has(kind) && (last === undefined || Date.now() - last >= this.intervalMs)) {
			this.lastLogged.set(kind, Date.now());
			this.log(`${message} [${tally}]; more like it are counted and reported at most every ${this.intervalMs / 1000} s`);
			return;
		}
		const entry = this.pending.get(kind) ?? { message, tallies: new Map<string, number>() };
		entry.tallies.set(tally, (entry.tallies.get(tally) ?? 0) + 1);
		this.pending.set(kind, entry);
		if (!this.timer) {
			this.timer = setTimeout(() => this.flush(), this.intervalMs);
			this.timer.unref();
		}
	}

	/** Logs what is still counted, and stops the timer. */
	stop(): void {
		this.flush();
	}

	private flush(): void {
		clearTimeout(this.timer);
		this.timer = undefined;
		for (const [kind, { message, tallies }] of this.pending) {
			const count = [...tallies.values()].reduce((sum, n) => sum + n, 0);
			const breakdown = [...tallies].map(([tally, n]) => `${tally} ×${n}`).join(", ");
			this.log(`${message}: ${count} more since the last report [${breakdown}]`);
			this.lastLogged.set(kind, Date.now());
		}
		this.pending.clear();
	}
}
