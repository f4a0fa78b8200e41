import type { Channel as AmqpChannel, ChannelModel, ConsumeMessage } from "amqplib";
import Channels from "@moleculer/channels";
import { REDELIVERED_COUNT_HEADER } from "./channel-retry.js";

/**
 * The @moleculer/channels 0.1.8 AMQP adapter (the registry's latest), with its
 * defects that break a consumer across a RabbitMQ outage mended here, in one
 * place. Each override names the defect it mends.
 *
 * The adapter's message flow is kept as it is: a message is acknowledged after
 * its handler succeeded; a failed one is re-published to its queue with
 * `x-redelivered-count` raised, and moved to the dead-letter queue when that
 * count reaches maxRetries.
 */

interface DeadLettering {
	enabled: boolean;
	queueName: string;
	exchangeName?: string;
}

/** What the adapter keeps of a subscribed channel (its `chan`). */
interface SubscribedChannel {
	id: string;
	name: string;
	group: string;
	maxRetries: number;
	unsubscribing?: boolean;
	deadLettering?: DeadLettering;
	handler(payload: unknown, raw: ConsumeMessage): Promise<unknown>;
}

interface AmqpAdapterInternals {
	opts: { maxRetries: number; deadLettering: DeadLettering };
	connection: ChannelModel | null;
	channel: AmqpChannel | null;
	connected: boolean;
	stopping: boolean;
	logger: { info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
	serializer: { deserialize(content: Buffer): unknown };
	addPrefixTopic(name: string): string;
	checkClientLibVersion(library: string, range: string): boolean;
	tryConnect(): Promise<void>;
	subscribe(chan: SubscribedChannel): Promise<void>;
	addChannelActiveMessages(channelId: string, ids: string[]): void;
	removeChannelActiveMessages(channelId: string, ids: string[]): void;
}

// A CommonJS package whose `Adapters` export Node's ESM loader does not detect: read off the default export.
const AmqpAdapter = (Channels as unknown as { Adapters: { AMQP: unknown } }).Adapters.AMQP as unknown as new (options?: object) => AmqpAdapterInternals;

/** The unprefixed dead-lettering options of each channel, as first given. */
const givenDeadLettering = new WeakMap<SubscribedChannel, DeadLettering | undefined>();

export class ResilientAmqpAdapter extends AmqpAdapter {
	/**
	 * Defect: it warns on every start that amqplib 0.10 "is not supported
	 * officially" (it checks for ^0.8 || ^0.9), although its own tests run on
	 * 0.10 and Node 20 needs it.
	 */
	override checkClientLibVersion(library: string, range: string): boolean {
		return super.checkClientLibVersion(library, library === "amqplib" ? `${range} || ^0.10.0` : range);
	}

	/**
	 * Defect: a channel closed by RabbitMQ while its connection stays open
	 * (a protocol error, a queue deleted) is only logged, and its consumers
	 * never come back. Closing the connection makes the adapter reconnect and
	 * subscribe again.
	 */
	override async tryConnect(): Promise<void> {
		await super.tryConnect();
		const channel = this.channel!;
		channel.on("close", () => {
			if (this.stopping || !this.connected || this.channel !== channel) return;
			this.logger.warn("AMQP channel closed under an open connection; reconnecting to consume again");
			this.connection?.close().catch(() => undefined);
		});
	}

	/**
	 * Defect: subscribe() prefixes `chan.deadLettering`'s queue and exchange
	 * names in place, so each resubscription after a reconnect prefixes them
	 * again and dead letters land in `<ns>.<ns>.DEAD_LETTER`. Each subscription
	 * starts again from the options as first given.
	 */
	override async subscribe(chan: SubscribedChannel): Promise<void> {
		if (!givenDeadLettering.has(chan)) givenDeadLettering.set(chan, chan.deadLettering && { ...chan.deadLettering });
		const given = givenDeadLettering.get(chan);
		chan.deadLettering = given && { ...given };
		await super.subscribe(chan);
	}

	/**
	 * Defect: the adapter's handler acknowledges on whichever channel is
	 * current when the handler ends, not the one that delivered the message,
	 * and lets the "Channel closed" error of a channel that closed meanwhile
	 * escape as an unhandled rejection, which ends the process. Here every
	 * acknowledgement, redelivery and dead-lettering goes to the delivering
	 * channel; if that channel is gone, the message was not acknowledged and
	 * RabbitMQ delivers it again (consumers are idempotent).
	 */
	createConsumerHandler(chan: SubscribedChannel): (msg: ConsumeMessage | null) => void {
		return (msg) => {
			if (!msg || chan.unsubscribing) return;
			const channel = this.channel!;
			const id = msg.properties.correlationId || `${msg.fields.consumerTag}:${msg.fields.deliveryTag}`;
			this.addChannelActiveMessages(chan.id, [id]);
			void this.consume(chan, channel, msg).finally(() => this.removeChannelActiveMessages(chan.id, [id]));
		};
	}

	private async consume(chan: SubscribedChannel, channel: AmqpChannel, msg: ConsumeMessage): Promise<void> {
		try {
			await chan.handler(this.serializer.deserialize(msg.content), msg);
			this.onChannel(() => channel.ack(msg));
			return;
		} catch (err) {
			this.logger.warn(`Message of '${chan.name}' failed:`, (err as Error).message);
		}
		const redeliveries = Number(msg.properties.headers?.[REDELIVERED_COUNT_HEADER] ?? 0) + 1;
		const deadLettering = chan.deadLettering;
		if (chan.maxRetries > 0 && redeliveries < chan.maxRetries) {
			const queue = `${chan.group}.${chan.name}`;
			this.onChannel(() => {
				channel.publish("", queue, msg.content, {
					...msg.properties,
					headers: { ...msg.properties.headers, [REDELIVERED_COUNT_HEADER]: redeliveries },
				});
				channel.ack(msg);
			});
		} else if (deadLettering?.enabled) {
			this.logger.error(`Message of '${chan.name}' failed ${redeliveries} time(s); moved to ${deadLettering.queueName}`);
			this.onChannel(() => {
				channel.publish(deadLettering.exchangeName ?? "", deadLettering.queueName, msg.content, {
					...msg.properties,
					headers: { ...msg.properties.headers, "x-original-channel": chan.name, "x-original-group": chan.group },
				});
				channel.ack(msg);
			});
		} else {
			this.logger.error(`Message of '${chan.name}' failed ${redeliveries} time(s); dropped (no dead-letter queue)`);
			this.onChannel(() => channel.nack(msg, false, false));
		}
	}

	/** Runs `work` (on the delivering channel); if that channel closed, RabbitMQ redelivers the message. */
	private onChannel(work: () => void): void {
		try {
			work();
		} catch (err) {
			this.logger.warn("The channel that delivered a message closed before its answer; RabbitMQ delivers it again:", (err as Error).message);
		}
	}
}
