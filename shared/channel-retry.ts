/**
 * Backoff between the redeliveries of a durable channel message.
 *
 * The @moleculer/channels AMQP adapter retries a failed message by
 * re-publishing it to its queue at once, with its redelivery count in the
 * `x-redelivered-count` header, and moves it to the dead-letter queue when
 * that count reaches `maxRetries`. Retried at once, a dependency that is down
 * for a second uses up every retry in milliseconds. `withBackoff` makes the
 * handler wait before it runs a redelivery, longer each time, so the retries
 * span minutes.
 *
 * With CHANNEL_MAX_RETRIES 10 and CHANNEL_BACKOFF below, a message is tried 10
 * times over about two minutes (0.5 + 1 + 2 + 4 + 8 + 16 + 30 + 30 + 30 s)
 * before it is dead-lettered.
 */

/** The header in which the AMQP adapter counts redeliveries (@moleculer/channels src/constants.js). */
export const REDELIVERED_COUNT_HEADER = "x-redelivered-count";

/** maxRetries of the channels adapter (moleculer.config.ts): attempts before dead-lettering. */
export const CHANNEL_MAX_RETRIES = 10;

export interface BackoffOptions {
	/** Wait before the first redelivery; doubled for each further one. */
	baseMs: number;
	/** Longest wait. */
	maxMs: number;
	/** How to wait (tests record the waits); by default a timer that gives up when the broker stops. */
	sleep?: (ms: number) => Promise<void>;
}

export const CHANNEL_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * How many times the adapter has redelivered this message: 0 for a first
 * delivery, and when there is no AMQP message (the in-process "Fake" adapter
 * passes `{ payload, headers }`, a local trigger passes nothing).
 */
export function redeliveryCount(raw: unknown): number {
	const headers = (raw as { properties?: { headers?: Record<string, unknown> } } | undefined)?.properties?.headers;
	const value = Number(headers?.[REDELIVERED_COUNT_HEADER] ?? 0);
	return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/** The wait before redelivery `n` (n >= 1): min(baseMs * 2^(n-1), maxMs); 0 for a first delivery. */
export function backoffDelay(n: number, { baseMs, maxMs }: Pick<BackoffOptions, "baseMs" | "maxMs">): number {
	if (n < 1) return 0;
	return Math.min(baseMs * 2 ** Math.min(n - 1, 30), maxMs);
}

type Handler<This, Message> = (this: This, message: Message, raw?: unknown) => unknown;
type BrokerHolder = { broker?: { stopping?: boolean } };

/**
 * Wraps a channel handler so that a redelivered message waits its backoff
 * first. The message stays unacknowledged while it waits (it holds one of the
 * channel's `maxInFlight` slots); if the broker starts stopping meanwhile, the
 * wait ends and the handler runs, so a shutdown is not held up by a backoff.
 */
export function withBackoff<This, Message>(
	handler: Handler<This, Message>,
	options: BackoffOptions = CHANNEL_BACKOFF,
): (this: This, message: Message, raw?: unknown) => Promise<void> {
	return async function (this: This, message: Message, raw?: unknown): Promise<void> {
		const delay = backoffDelay(redeliveryCount(raw), options);
		if (delay > 0) await (options.sleep ?? ((ms: number) => sleepUnlessStopping(ms, this as BrokerHolder)))(delay);
		await handler.call(this, message, raw);
	};
}

const SLICE_MS = 250;

async function sleepUnlessStopping(ms: number, service: BrokerHolder): Promise<void> {
	const until = Date.now() + ms;
	for (let left = ms; left > 0 && !service.broker?.stopping; left = until - Date.now()) {
		await new Promise((resolve) => setTimeout(resolve, Math.min(left, SLICE_MS)));
	}
}
