import { randomUUID } from "node:crypto";
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from "amqp-connection-manager";
import type { ChannelModel, ConfirmChannel, Message } from "amqplib";
import pTimeout from "p-timeout";
import { SIGNATURE_HEADER, type MessageSigner } from "./message-signing.js";
import { channelExchange, declareTopology, type Publishes } from "./topology.js";

export interface ConfirmedPublisherOptions {
	/** AMQP URL, or a ";"-separated list of a cluster's URLs (tried in turn). */
	url: string;
	/** The broker's namespace, which prefixes every name (./topology.ts). */
	namespace: string;
	/** The channels published, with their consumer groups (ChannelConsumers): declared on every (re)connection. */
	publishes: Publishes;
	/** Shown by RabbitMQ (management UI, rabbitmqctl list_connections). */
	connectionName?: string;
	/** A publish not confirmed within this time fails, its wait for a connection included; so does start(). */
	confirmTimeoutMs?: number;
	/** AMQP heartbeat: a connection whose peer fell silent is dropped after two missed ones, and opened again. */
	heartbeatSeconds?: number;
	/** The wait before each attempt to connect again. */
	reconnectSeconds?: number;
	logger?: { info(...args: unknown[]): void; warn(...args: unknown[]): void };
	/** Signs every message (./message-signing.ts), so consumers can tell the cluster's facts from forged ones; without it, messages go unsigned. */
	signer?: MessageSigner;
}

/** How long close() waits for RabbitMQ to answer; a dead peer's connection is then left to end by itself (its heartbeat). */
const CLOSE_GRACE_MS = 2000;

/**
 * Publishes to the durable channels' exchanges (./topology.ts) with publisher
 * confirms, on an amqp-connection-manager ChannelWrapper: `publish` resolves
 * only once RabbitMQ has taken the message (routed to at least one queue, and
 * for a quorum queue written to disk), and rejects if RabbitMQ nacks it,
 * returns it as unroutable (`mandatory`), the channel closes before the
 * confirm, or no confirm comes within `confirmTimeoutMs`. Meant for the outbox
 * relay, which marks a fact published only when `publish` resolved.
 *
 * The connection manager connects at construction and again whenever the
 * connection is lost (or its peer misses two heartbeats); each new channel's
 * setup declares the exchanges and the consumer groups' queues before any
 * message goes out. A publish made while there is no connection waits for
 * one, within its `confirmTimeoutMs`. A channel RabbitMQ closes under an open
 * connection (a publish to an exchange deleted meanwhile) makes the publisher
 * reconnect, and a message returned as unroutable (a queue deleted meanwhile)
 * makes it declare the queues again, so the next publish gets through.
 *
 * Payloads are encoded as the channels adapter's JSON serializer does
 * (`Buffer.from(JSON.stringify(payload))`), so consumers decode them alike,
 * and, given a `signer`, signed over those bytes (./message-signing.ts).
 */
export class ConfirmedPublisher {
	private readonly connection: AmqpConnectionManager;
	private readonly channel: ChannelWrapper;
	private readonly confirmTimeoutMs: number;
	/** The confirm channel whose setup has finished, while it is open: publishes flow. */
	private ready?: ConfirmChannel;
	/** Why there is no `ready` channel. */
	private reason = "not connected yet";
	/** A loss of the ready channel (or a failed setup) was logged: once, until the publisher is ready again. */
	private lost = false;
	/** Messages sent and not yet confirmed, by messageId: whether RabbitMQ returned them (a return comes before the confirm). */
	private readonly unconfirmed = new Map<string, { returned: boolean }>();
	/** The declarations made again after a message was returned as unroutable; publishes wait for them. */
	private redeclaring?: Promise<void>;
	private closed = false;

	constructor(private readonly options: ConfirmedPublisherOptions) {
		this.confirmTimeoutMs = options.confirmTimeoutMs ?? 15_000;
		const urls = options.url
			.split(";")
			.map((url) => url.trim())
			.filter(Boolean);
		this.connection = amqp.connect(urls, {
			heartbeatIntervalInSeconds: options.heartbeatSeconds ?? 5,
			reconnectTimeInSeconds: options.reconnectSeconds ?? 1,
			connectionOptions: {
				noDelay: true,
				clientProperties: options.connectionName ? { connection_name: options.connectionName } : undefined,
			},
		});
		this.connection.on("connectFailed", ({ err }) => this.down(err));
		this.connection.on("disconnect", ({ err }) => this.down(err ?? "connection closed"));
		this.channel = this.connection.createChannel({
			name: options.connectionName,
			confirm: true,
			publishTimeout: this.confirmTimeoutMs,
			setup: (channel: ConfirmChannel) => this.setup(channel),
		});
		// A failed setup. Without a listener, an "error" event would end the process.
		this.channel.on("error", (err: Error) => {
			this.down(err);
			this.announceLoss();
		});
	}

	async publish(channel: string, payload: unknown, headers: Record<string, unknown> = {}): Promise<void> {
		if (this.closed) throw new Error("The publisher is closed");
		const exchange = channelExchange(this.options.namespace, channel);
		const messageId = randomUUID();
		const sent = { returned: false };
		const body = Buffer.from(JSON.stringify(payload));
		const signer = this.options.signer;
		await this.redeclaring;
		this.unconfirmed.set(messageId, sent);
		try {
			await this.channel.publish(exchange, "", body, {
				persistent: true,
				mandatory: true,
				contentType: "application/json",
				messageId,
				headers: signer ? { ...headers, [SIGNATURE_HEADER]: signer.sign(exchange, body) } : headers,
			});
		} catch (err) {
			const { message } = toError(err);
			// amqp-connection-manager's publishTimeout: it has dropped the message, so it is never sent late.
			if (message === "timeout") throw new Error(`RabbitMQ did not confirm the message within ${this.confirmTimeoutMs} ms`);
			// amqplib's, for every message unconfirmed when its channel closed; the channel's or connection's reason is known by now.
			if (message === "channel closed") throw new Error(`The channel closed before RabbitMQ confirmed the message: ${this.reason}`);
			throw toError(err);
		} finally {
			this.unconfirmed.delete(messageId);
		}
		if (sent.returned) throw new Error(`RabbitMQ returned the message as unroutable: no queue is bound to exchange ${exchange}`);
	}

	/** Whether publishes flow now: connected, with the exchanges and queues declared on this connection. */
	get connected(): boolean {
		return this.ready !== undefined;
	}

	/** The health probe: throws why publishes cannot flow now. */
	assertConnected(): void {
		if (!this.ready) throw new Error(this.closed ? "The publisher is closed" : this.reason);
	}

	/**
	 * Waits (up to `confirmTimeoutMs`) until the connection is open and the
	 * exchanges and queues are declared, so that a message published before a
	 * consumer ever started waits for it.
	 */
	async start(): Promise<void> {
		if (this.ready) return;
		await pTimeout(this.channel.waitForConnect(), {
			milliseconds: this.confirmTimeoutMs,
			// Read when the time is up: the reason of the latest failure.
			fallback: () => {
				throw new Error(`RabbitMQ not reached within ${this.confirmTimeoutMs} ms: ${this.reason}`);
			},
		});
		this.assertConnected();
	}

	/** Closes the channel and the connection; unconfirmed publishes fail, and so does publishing afterwards. */
	async close(): Promise<void> {
		if (this.closed) return;
		this.closed = true;
		this.ready = undefined;
		await pTimeout(this.connection.close(), {
			milliseconds: CLOSE_GRACE_MS,
			message: `RabbitMQ did not answer the close within ${CLOSE_GRACE_MS} ms`,
		}).catch((err: Error) => this.options.logger?.warn(`Outbox publisher: ${err.message}; its connection is left to end by itself`));
	}

	/** Runs on every new channel, before any message is sent on it. */
	private async setup(channel: ConfirmChannel): Promise<void> {
		const connection = this.connection.connection;
		// Listeners first: an "error" event without one would end the process.
		let setUp = false;
		channel.on("error", (err: Error) => this.down(err));
		channel.on("close", () => {
			if (this.ready === channel) this.down("channel closed");
			// Once the connection's own events are out too, if it was the
			// connection that went: its reason is the one to tell.
			setImmediate(() => {
				if (setUp) this.announceLoss();
				this.reconnect(connection);
			});
		});
		channel.on("return", (message: Message) => {
			const sent = this.unconfirmed.get(message.properties.messageId as string);
			if (sent) sent.returned = true;
			// No queue took it: one was deleted since it was declared. Declared
			// again at once, before the next publish (a failure closes the
			// channel, which reconnects).
			if (this.redeclaring) return;
			const redeclaring = declareTopology(channel, this.options.namespace, this.options.publishes)
				.catch(() => undefined)
				.finally(() => {
					if (this.redeclaring === redeclaring) this.redeclaring = undefined;
				});
			this.redeclaring = redeclaring;
		});
		// Again on every channel: a queue or exchange deleted (or a broker reset)
		// since the service started exists again before anything is sent.
		await declareTopology(channel, this.options.namespace, this.options.publishes);
		setUp = true;
		this.ready = channel;
		if (this.lost) this.options.logger?.info("Outbox publisher connected to RabbitMQ again");
		this.lost = false;
	}

	/** No ready channel, and why. */
	private down(reason: unknown): void {
		this.ready = undefined;
		this.reason = reason instanceof Error ? reason.message : String(reason);
	}

	/** One warning per loss, until the publisher is ready again. */
	private announceLoss(): void {
		if (this.lost || this.closed) return;
		this.lost = true;
		this.options.logger?.warn(`Outbox publisher cannot publish (${this.reason}); reconnecting, publishes wait up to ${this.confirmTimeoutMs} ms each`);
	}

	/**
	 * amqp-connection-manager opens a new channel only with a new connection:
	 * after a channel RabbitMQ closed under an open connection, that
	 * connection is closed, so the manager connects again and runs the setup.
	 * Nothing to do when the connection itself went (it reconnects anyway).
	 */
	private reconnect(connection: ChannelModel | undefined): void {
		if (this.closed || !connection || this.connection.connection !== connection) return;
		connection.close().catch(() => undefined);
	}
}

function toError(err: unknown): Error {
	return err instanceof Error ? err : new Error(String(err));
}
