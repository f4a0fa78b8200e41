import type { LoggerInstance } from "moleculer";

/**
 * Announces a change that is already committed (an event, a broadcast). A
 * failure to announce is logged, never thrown: the caller must not report a
 * committed change as failed, nor undo it. Every service announces through
 * this, after its commit.
 */
export async function announceCommitted(logger: LoggerInstance, change: string, announce: () => Promise<unknown>): Promise<void> {
	try {
		await announce();
	} catch (err) {
		logger.error(`${change}, but announcing it failed:`, (err as Error).message);
	}
}
