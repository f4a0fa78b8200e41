import { randomUUID } from "node:crypto";
import amqp, { type ChannelModel, type ConfirmChannel } from "amqplib";
import { channelExchange, declareTopology } from "./messaging/topology.js";

export interface ConfirmedPublisherOptions {
	/** AMQP URL, or a ";"-separated list of a cluster's URLs (tried in turn). */
	url: string;
	/** The channels adapter's prefix: the broker's namespace. */
	prefix: string;
	/** The channels published, with their consumer groups (ChannelConsumers): declared on every (re)connection. */
	publishes: Record<string, readonly string[]>;
	/** Shown by RabbitMQ (management UI, rabbitmqctl list_connections). */
	connectionName?: string;
	/** A publish not confirmed within this time fails, and the connection is dropped. */
	confirmTimeoutMs?: number;
	logger?: { warn(...args: unknown[]): void };
}

interface Session {
	channel: ConfirmChannel;
	/** messageIds that RabbitMQ returned as unroutable (a return comes before its confirm). */
	returned: Set<string>;
	/** Drops the session: closes its connection (at once if `unresponsive`), fails its pending publishes. */
	end(reason?: unknown, unresponsive?: boolean): void;
	close(): Promise<void>;
}

/**
 * Publishes to the channels' exchanges with publisher confirms: `publish`
 * resolves only once RabbitMQ has taken the message (routed to at least one
 * queue, and for a quorum queue written to disk), and rejects if it nacks the
 * message, returns it as unroutable, closes the channel or connection first,
 * or does not answer in time. Meant for the outbox relay, which marks a fact
 * published only when `publish` resolved.
 *
 * One connection per instance, opened at the first publish and opened again
 * at the next publish after an error or a close; `close()` ends it.
 * Payloads are encoded as the adapter's JSON serializer does
 * (`Buffer.from(JSON.stringify(payload))`), so consumers decode them alike.
 */
export class ConfirmedPublisher {
	private current?: Promise<Session>;
	private closed = false;
	private urlIndex = 0;

	constructor(private readonly options: ConfirmedPublisherOptions) {}

	async publish(channel: string, payload: unknown, headers: Record<string, unknown> = {}): Promise<void> {
		const session = await this.connect();
		const exchange = channelExchange(this.options.prefix, channel);
		const messageId = randomUUID();
		const content = Buffer.from(JSON.stringify(payload));
		const timeoutMs = this.options.confirmTimeoutMs ?? 15_000;
		await new Promise<void>((resolve, reject) => {
			let settled = false;
			const settle = (err: Error | null) => {
				if (settled) return;
				settled = true;
				clearTimeout(timer);
				if (err) reject(err);
				else if (session.returned.delete(messageId)) reject(new Error(`RabbitMQ returned the message: no queue is bound to exchange ${exchange}`));
				else resolve();
			};
			const timer = setTimeout(() => {
				const err = new Error(`RabbitMQ did not confirm the message within ${timeoutMs} ms`);
				settle(err);
				session.end(err, true);
			}, timeoutMs);
			try {
				session.channel.publish(
					exchange,
					"",
					content,
					{ persistent: true, mandatory: true, contentType: "application/json", messageId, headers },
					(err) => settle(err ? toError(err) : null),
				);
			} catch (err) {
				// The channel closed before this call (amqplib throws "Channel closed").
				settle(toError(err));
				session.end(err);
			}
		});
	}

	/** Closes the connection; publishing afterwards fails. */
	async close(): Promise<void> {
		this.closed = true;
		const current = this.current;
		this.current = undefined;
		const session = await current?.catch(() => undefined);
		await session?.close();
	}

	/**
	 * Connects now, declaring the exchange of each published channel and the
	 * durable queue of each consumer group, so that a message published before
	 * a consumer ever started waits for it.
	 */
	async start(): Promise<void> {
		await this.connect();
	}

	private connect(): Promise<Session> {
		if (this.closed) return Promise.reject(new Error("The publisher is closed"));
		if (!this.current) {
			const opening: Promise<Session> = this.open(() => {
				if (this.current === opening) this.current = undefined;
			});
			this.current = opening;
			opening.catch(() => {
				if (this.current === opening) this.current = undefined;
			});
		}
		return this.current;
	}

	private async open(onEnd: () => void): Promise<Session> {
		const model = await this.connectToAnyUrl();
		let ended = false;
		let closing = false;
		const end = (reason?: unknown, unresponsive = false) => {
			if (ended) return;
			ended = true;
			onEnd();
			if (!closing) this.options.logger?.warn("Outbox publisher connection lost; reconnecting at the next publish:", reason instanceof Error ? reason.message : (reason ?? "closed"));
			void closeWithin(model, unresponsive ? 0 : undefined);
		};
		// Listeners first: an "error" event without one would crash the process.
		model.on("error", end);
		model.on("close", end);
		try {
			const channel = await model.createConfirmChannel();
			const returned = new Set<string>();
			channel.on("error", end);
			channel.on("close", end);
			channel.on("return", (message: { properties: { messageId?: string } }) => {
				if (message.properties.messageId) returned.add(message.properties.messageId);
			});
			// Again on every connection: a queue or exchange deleted (or a broker
			// reset) since the service started exists again before anything is sent.
			await declareTopology(channel, this.options.prefix, this.options.publishes);
			return {
				channel,
				returned,
				end,
				async close() {
					closing = true;
					ended = true;
					onEnd();
					await closeWithin(model);
				},
			};
		} catch (err) {
			end(err);
			throw err;
		}
	}

	private async connectToAnyUrl(): Promise<ChannelModel> {
		const urls = this.options.url.split(";").map((url) => url.trim()).filter(Boolean);
		let lastError: unknown = new Error("No AMQP URL");
		for (let i = 0; i < urls.length; i++) {
			const index = (this.urlIndex + i) % urls.length;
			try {
				const model = await amqp.connect(urls[index], {
					noDelay: true,
					clientProperties: this.options.connectionName ? { connection_name: this.options.connectionName } : undefined,
				});
				this.urlIndex = index;
				return model;
			} catch (err) {
				lastError = err;
			}
		}
		throw lastError;
	}
}

/**
 * Closes a connection, or, if RabbitMQ does not answer (a dead peer that sent
 * no FIN: amqplib notices only a socket error or end, or two missed
 * heartbeats), abandons it.
 */
async function closeWithin(model: ChannelModel, graceMs = 2000): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	const late = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error("close timed out")), graceMs).unref();
	});
	try {
		await Promise.race([model.close(), late]);
	} catch {
		// amqplib's own socket-failure path: ends the socket, fails the
		// channels, stops the heartbeat timers that would keep the process alive.
		const connection = (model as unknown as { connection?: { stream?: { destroy(): void }; onSocketError?(err: Error): void } }).connection;
		connection?.stream?.destroy();
		connection?.onSocketError?.(new Error("AMQP connection abandoned: no answer to its close"));
	} finally {
		clearTimeout(timer);
	}
}

function toError(err: unknown): Error {
	return err instanceof Error ? err : new Error(String(err));
}
