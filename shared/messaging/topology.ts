import type { Channel, Options } from "amqplib";

/**
 * Durable channels over RabbitMQ: the whole story, told once.
 *
 * Two facts must never be lost, "order created" and "payment settled"
 * (`Channels` in shared/contracts.ts). Moleculer's own events are at most
 * once, so these travel differently:
 *
 * 1. The publishing service writes the fact into its outbox table in the
 *    transaction of the change it reports (shared/mixins/outbox.mixin.ts).
 * 2. The outbox relay publishes it through ConfirmedPublisher
 *    (./confirmed-publisher.ts, on amqp-connection-manager) with publisher
 *    confirms, `mandatory` and `persistent`, and marks the row published only
 *    once RabbitMQ confirmed it. It does not use @moleculer/channels' publish,
 *    which has no confirms: a message it buffered and lost with its connection
 *    would have been marked published. In process (no TRANSPORTER) the relay
 *    hands the message to the channels' in-process "Fake" adapter instead.
 * 3. Each channel is a durable fanout exchange, `<namespace>.<channel>`, with
 *    one durable quorum queue per consumer group, `<group>.<namespace>.<channel>`
 *    (`ChannelConsumers` in shared/contracts.ts names the groups). The
 *    publisher declares both on every (re)connection, so a message published
 *    before its consumer ever started waits for it, and a queue or exchange
 *    deleted meanwhile exists again before anything more is sent.
 * 4. Consumers subscribe through @moleculer/channels' AMQP adapter, as mended
 *    in shared/channels-amqp-adapter.ts and configured by its durableChannelsAdapter
 *    (the options below, `prefix` the namespace, up to 10 messages in
 *    flight). A message is acknowledged once its handler, and so the
 *    consumer's own commit, has finished, on the channel that delivered it;
 *    every consumer is idempotent, because delivery is at least once.
 * 5. A handler that throws gets the message again: the adapter re-publishes it
 *    to its queue with `x-redelivered-count` raised, and the handler, wrapped
 *    in withBackoff (shared/channel-retry.ts), waits longer before each
 *    attempt. After CHANNEL_MAX_RETRIES attempts (about two minutes) the
 *    message goes to the namespace's dead-letter queue, `<namespace>.DEAD_LETTER`.
 *
 * Everything here is named as the adapter names it: it prefixes channel
 * names with its `prefix` (its addPrefixTopic), and names a group's queue
 * `<group>.<prefixed channel>`. This module is the only place that spells
 * those names; the configuration, the publisher and the tests call it.
 */

/** The dead-letter queue as the adapter is given it (`deadLettering.queueName`): it prefixes it, and names its exchange alike. */
export const DEAD_LETTER = "DEAD_LETTER";

/** A name as the adapter prefixes it (addPrefixTopic): `<namespace>.<name>`, or the name alone without a namespace. */
export function prefixed(namespace: string, name: string): string {
	return namespace ? `${namespace}.${name}` : name;
}

/** The exchange of a channel: `<namespace>.<channel>`. */
export function channelExchange(namespace: string, channel: string): string {
	return prefixed(namespace, channel);
}

/** The queue of a consumer group on a channel: `<group>.<namespace>.<channel>`. */
export function channelQueue(namespace: string, channel: string, group: string): string {
	return groupQueue(channelExchange(namespace, channel), group);
}

/** The queue of a consumer group on a channel the adapter already prefixed (its `chan.name`). */
export function groupQueue(prefixedChannel: string, group: string): string {
	return `${group}.${prefixedChannel}`;
}

/** The namespace's dead-letter queue: `<namespace>.DEAD_LETTER`. */
export function deadLetterQueue(namespace: string): string {
	return prefixed(namespace, DEAD_LETTER);
}

/** The exchange the adapter binds the dead-letter queue to: the queue's name. */
export function deadLetterExchange(namespace: string): string {
	return deadLetterQueue(namespace);
}

/**
 * Options of every durable channel queue, here and in the channels adapter
 * (durableChannelsAdapter's `amqp.queueOptions`, which also applies to its
 * dead-letter queue): they must be identical, or RabbitMQ refuses the second
 * declaration with PRECONDITION_FAILED. A quorum queue persists every message
 * whatever its delivery mode, so the adapter's retries and dead letters are
 * on disk too.
 * A fresh object each call: the adapter merges into what it is given.
 */
export function durableQueueOptions(): Options.AssertQueue {
	return { durable: true, arguments: { "x-queue-type": "quorum" } };
}

export function durableExchangeOptions(): Options.AssertExchange {
	return { durable: true };
}

/** The channels a service publishes, with their consumer groups (a part of ChannelConsumers). */
export type Publishes = Record<string, readonly string[]>;

/** Declares the exchange of each published channel and the queue of each of its consumer groups, bound to it. */
export async function declareTopology(channel: Channel, namespace: string, publishes: Publishes): Promise<void> {
	for (const [name, groups] of Object.entries(publishes)) {
		const exchange = channelExchange(namespace, name);
		await channel.assertExchange(exchange, "fanout", durableExchangeOptions());
		for (const group of groups) {
			const queue = channelQueue(namespace, name, group);
			await channel.assertQueue(queue, durableQueueOptions());
			await channel.bindQueue(queue, exchange, "");
		}
	}
}
