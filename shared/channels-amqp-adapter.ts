import type { Channel as AmqpChannel, ChannelModel, ConsumeMessage } from "amqplib";
import Channels from "@moleculer/channels";
import { CHANNEL_MAX_RETRIES, REDELIVERED_COUNT_HEADER } from "./channel-retry.js";
import { DEAD_LETTER, durableExchangeOptions, durableQueueOptions, groupQueue } from "./messaging/topology.js";
import { describeSignatureFailure, SIGNATURE_HEADER, type MessageSigner, type SignatureFailure } from "./messaging/message-signing.js";
import { RateLimitedWarnings } from "./rate-limited-warnings.js";

/**
 * The @moleculer/channels 0.1.8 AMQP adapter (the registry's latest), with its
 * defects that break a consumer across a RabbitMQ outage mended here, in one
 * place. Each override names the defect it mends.
 *
 * The adapter's message flow is kept as it is: a message is acknowledged after
 * its handler succeeded; a failed one is re-published to its queue with
 * `x-redelivered-count` raised, and moved to the dead-letter queue when that
 * count reaches maxRetries.
 *
 * Given a `signer` (shared/messaging/message-signing.ts), it also signs what
 * it publishes and refuses every message that does not carry the cluster's
 * signature, before deserializing it.
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

interface PublishOptions {
	raw?: boolean;
	headers?: Record<string, unknown>;
	[option: string]: unknown;
}

interface AmqpAdapterInternals {
	opts: { maxRetries: number; deadLettering: DeadLettering };
	connection: ChannelModel | null;
	channel: AmqpChannel | null;
	connected: boolean;
	stopping: boolean;
	logger: { info(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
	serializer: { serialize(payload: unknown): Buffer; deserialize(content: Buffer): unknown };
	addPrefixTopic(name: string): string;
	checkClientLibVersion(library: string, range: string): boolean;
	tryConnect(): Promise<void>;
	disconnect(): Promise<void>;
	publish(channelName: string, payload: unknown, opts?: PublishOptions): Promise<void>;
	subscribe(chan: SubscribedChannel): Promise<void>;
	addChannelActiveMessages(channelId: string, ids: string[]): void;
	removeChannelActiveMessages(channelId: string, ids: string[]): void;
}

// A CommonJS package whose `Adapters` export Node's ESM loader does not detect: read off the default export.
const AmqpAdapter = (Channels as unknown as { Adapters: { AMQP: unknown } }).Adapters.AMQP as unknown as new (options?: object) => AmqpAdapterInternals;

/** The unprefixed dead-lettering options of each channel, as first given. */
const givenDeadLettering = new WeakMap<SubscribedChannel, DeadLettering | undefined>();

/** The header that says why a message was refused unhandled (dead-lettered without retries): `signature: <failure>`. */
export const REJECTED_HEADER = "x-rejected";

export interface ResilientAmqpAdapterExtras {
	/**
	 * Signs what the adapter publishes, and refuses, before any handler or
	 * retry, every consumed message without a valid signature: it goes straight
	 * to the dead-letter queue (or is dropped without one). Without it,
	 * messages are neither signed nor checked.
	 */
	signer?: MessageSigner;
}

export class ResilientAmqpAdapter extends AmqpAdapter {
	private readonly signer?: MessageSigner;
	private readonly rejections = new RateLimitedWarnings((message) => this.logger.error(message));

	/** `options` are the upstream adapter's. */
	constructor(options?: object, { signer }: ResilientAmqpAdapterExtras = {}) {
		super(options);
		this.signer = signer;
	}

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
		if (this.signer) {
			const check = this.signer.verify(chan.name, msg.content, msg.properties.headers);
			if (!check.valid) return this.refuse(chan, channel, msg, check.failure);
		}
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
			const queue = groupQueue(chan.name, chan.group);
			this.onChannel(() => {
				channel.publish("", queue, msg.content, {
					...msg.properties,
					headers: { ...msg.properties.headers, [REDELIVERED_COUNT_HEADER]: redeliveries },
				});
				channel.ack(msg);
			});
		} else if (deadLettering?.enabled) {
			this.logger.error(`Message of '${chan.name}' failed ${redeliveries} time(s); moved to ${deadLettering.queueName}`);
			this.deadLetter(chan, deadLettering, channel, msg);
		} else {
			this.logger.error(`Message of '${chan.name}' failed ${redeliveries} time(s); dropped (no dead-letter queue)`);
			this.onChannel(() => channel.nack(msg, false, false));
		}
	}

	/**
	 * A message without the cluster's signature is never handled, nor retried
	 * (no retry can make it valid). It is dead-lettered rather than dropped:
	 * the dead-letter queue keeps the evidence of a forgery, and a genuine fact
	 * refused because of a misconfigured secret can be moved back once fixed.
	 * Logged as an error, at most once a minute per channel and failure.
	 */
	private refuse(chan: SubscribedChannel, channel: AmqpChannel, msg: ConsumeMessage, failure: SignatureFailure): void {
		const deadLettering = chan.deadLettering;
		const outcome = deadLettering?.enabled ? `moved to ${deadLettering.queueName} unhandled` : "dropped unhandled (no dead-letter queue)";
		this.rejections.report(`${chan.name} ${failure}`, `Messages of '${chan.name}' that ${describeSignatureFailure(failure)}: ${outcome}`, chan.group);
		if (deadLettering?.enabled) this.deadLetter(chan, deadLettering, channel, msg, { [REJECTED_HEADER]: `signature: ${failure}` });
		else this.onChannel(() => channel.nack(msg, false, false));
	}

	private deadLetter(
		chan: SubscribedChannel,
		deadLettering: DeadLettering,
		channel: AmqpChannel,
		msg: ConsumeMessage,
		headers: Record<string, unknown> = {},
	): void {
		this.onChannel(() => {
			channel.publish(deadLettering.exchangeName ?? "", deadLettering.queueName, msg.content, {
				...msg.properties,
				headers: { ...msg.properties.headers, "x-original-channel": chan.name, "x-original-group": chan.group, ...headers },
			});
			channel.ack(msg);
		});
	}

	/** With a signer, signs what sendToChannel publishes over RabbitMQ, as ConfirmedPublisher signs the outbox's facts. */
	override async publish(channelName: string, payload: unknown, opts: PublishOptions = {}): Promise<void> {
		if (!this.signer) return super.publish(channelName, payload, opts);
		// `raw`: the caller passed the bytes themselves, which the upstream adapter publishes as they are.
		const body = opts.raw ? (payload as Buffer) : this.serializer.serialize(payload);
		await super.publish(channelName, body, { ...opts, raw: true, headers: { ...opts.headers, [SIGNATURE_HEADER]: this.signer.sign(channelName, body) } });
	}

	override async disconnect(): Promise<void> {
		await super.disconnect();
		this.rejections.stop();
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

/**
 * The adapter as every node configures it over RabbitMQ (moleculer.config.ts),
 * and the tests with it: the queue options shared/messaging/topology.ts spells,
 * persistent messages, retries with backoff, the dead-letter queue, and, given
 * a `signer`, signed messages.
 */
export function durableChannelsAdapter(url: string, namespace: string, signer?: MessageSigner): ResilientAmqpAdapter {
	return new ResilientAmqpAdapter(
		{
			amqp: {
				url,
				socketOptions: { noDelay: true },
				messageOptions: { persistent: true },
				// Also the dead-letter queue's; the publisher declares the same.
				queueOptions: durableQueueOptions(),
				exchangeOptions: durableExchangeOptions(),
			},
			// Prefixes every name as shared/messaging/topology.ts spells it.
			prefix: namespace,
			maxInFlight: 10,
			maxRetries: CHANNEL_MAX_RETRIES,
			deadLettering: { enabled: true, queueName: DEAD_LETTER },
		},
		// Signs what it publishes; a message without a valid signature goes to the dead-letter queue unhandled.
		{ signer },
	);
}
