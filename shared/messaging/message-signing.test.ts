import { randomBytes } from "node:crypto";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import type { MiddlewareOptions as ChannelsOptions } from "@moleculer/channels/types/src/index.js";
import amqp from "amqplib";
import { Loggers, ServiceBroker, type LoggerBindings, type Middleware, type ServiceSchema } from "moleculer";
import { deleteChannelQueues } from "../../test/support/cluster.js";
import { testServers } from "../../test/support/servers.js";
import { waitFor } from "../../test/support/wait-for.js";
import { REDELIVERED_COUNT_HEADER, redeliveryCount, withBackoff } from "../channel-retry.js";
import { durableChannelsAdapter, REJECTED_HEADER } from "../channels-amqp-adapter.js";
import { Channels, ChannelConsumers } from "../contracts.js";
import { ConfirmedPublisher } from "./confirmed-publisher.js";
import { MessageSigner, SIGNATURE_HEADER } from "./message-signing.js";
import { channelExchange, channelQueue, deadLetterQueue } from "./topology.js";

/**
 * Signed durable messages on the real RabbitMQ: what the cluster publishes is
 * handled; what anyone else publishes straight to a channel's exchange goes to
 * the dead-letter queue unhandled, without a single retry.
 */

const channel = Channels.orderCreated;
const group = ChannelConsumers[channel][0];
const secret = () => randomBytes(32).toString("base64url");

/** Error and warning lines of a broker's loggers. */
class CapturedLogger extends Loggers.Base {
	constructor(private readonly lines: string[]) {
		super();
	}

	override getLogHandler(bindings?: LoggerBindings): Loggers.LogHandler {
		return (level, args) => {
			if (level === "error" || level === "warn") this.lines.push(`${level} ${bindings?.mod}: ${args.map(String).join(" ")}`);
		};
	}
}

/** A consumer with the channels adapter every node uses over RabbitMQ, given `signer`. */
function consumer(namespace: string, signer: MessageSigner | undefined, service: ServiceSchema, log: string[]): ServiceBroker {
	const adapter = durableChannelsAdapter(testServers.amqpUrl, namespace, signer);
	const broker = new ServiceBroker({
		namespace,
		nodeID: `consumer-${namespace}`,
		logger: new CapturedLogger(log),
		// @moleculer/channels' typings require every option and do not fit moleculer's Middleware type.
		middlewares: [ChannelsMiddleware({ adapter } as unknown as ChannelsOptions) as unknown as Middleware],
	});
	broker.createService(service);
	return broker;
}

/** A consumer of `channel` in `group` that records each run and fails the first run of the ids in `failOnce`. */
function recordingService(runs: { id: string; count: number }[], handled: string[], failOnce = new Set<string>()): ServiceSchema {
	return {
		name: "payment-like",
		channels: {
			[channel]: {
				group,
				handler: withBackoff(
					async (message: { id: string }, raw?: unknown) => {
						runs.push({ id: message.id, count: redeliveryCount(raw) });
						if (failOnce.delete(message.id)) throw new Error("dependency down");
						handled.push(message.id);
					},
					{ baseMs: 20, maxMs: 30 },
				),
			},
		},
	};
}

async function onChannel<T>(work: (ch: amqp.Channel) => Promise<T>): Promise<T> {
	const connection = await amqp.connect(testServers.amqpUrl);
	try {
		return await work(await connection.createChannel());
	} finally {
		await connection.close();
	}
}

const body = (message: object) => Buffer.from(JSON.stringify(message));

/** Publishes to a channel's exchange as anyone with RabbitMQ access can, bypassing the cluster's publishers; resolves once RabbitMQ has them. */
async function publishStraight(exchange: string, messages: { content: Buffer; headers?: Record<string, unknown> }[]): Promise<void> {
	const connection = await amqp.connect(testServers.amqpUrl);
	try {
		const ch = await connection.createConfirmChannel();
		for (const { content, headers } of messages) ch.publish(exchange, "", content, { persistent: true, headers });
		await ch.waitForConfirms();
	} finally {
		await connection.close();
	}
}

describe("signed channel messages, with the cluster secret on both sides", () => {
	const namespace = `sign-${randomBytes(5).toString("hex")}`;
	const SECRET = secret();
	const signer = new MessageSigner({ secret: SECRET });
	const exchange = channelExchange(namespace, channel);
	const runs: { id: string; count: number }[] = [];
	const handled: string[] = [];
	const failOnce = new Set<string>();
	const log: string[] = [];
	let broker: ServiceBroker;
	let publisher: ConfirmedPublisher;

	beforeAll(async () => {
		publisher = new ConfirmedPublisher({ url: testServers.amqpUrl, namespace, publishes: { [channel]: ChannelConsumers[channel] }, signer });
		await publisher.start();
		broker = consumer(namespace, signer, recordingService(runs, handled, failOnce), log);
		await broker.start();
	});

	afterAll(async () => {
		await broker.stop();
		await publisher.close();
		await deleteChannelQueues(namespace);
	});

	it("handles what the outbox's publisher signed, and a retry keeps the signature", async () => {
		failOnce.add("flaky");
		await publisher.publish(channel, { id: "signed" });
		await publisher.publish(channel, { id: "flaky" });
		await waitFor(() => handled.includes("signed") && handled.includes("flaky"), "both signed messages");
		expect(runs.filter((run) => run.id === "flaky").map((run) => run.count)).toEqual([0, 1]);
	});

	it("handles what sendToChannel published through the signing adapter", async () => {
		await broker.sendToChannel(channel, { id: "sent" });
		await waitFor(() => handled.includes("sent"), "the message sent through the adapter");
	});

	it("moves what was published straight to the exchange without a valid signature to the dead-letter queue, unhandled and never retried", async () => {
		const dead = deadLetterQueue(namespace);
		const forged = [
			{ id: "unsigned", headers: {} },
			{ id: "other secret", headers: { [SIGNATURE_HEADER]: new MessageSigner({ secret: secret() }).sign(exchange, body({ id: "other secret" })) } },
			// A genuine signature, of another amount.
			{ id: "altered", amount: 100_000, headers: { [SIGNATURE_HEADER]: signer.sign(exchange, body({ id: "altered", amount: 1 })) } },
			// A genuine signature, of the same body on another channel.
			{
				id: "other channel",
				headers: { [SIGNATURE_HEADER]: signer.sign(channelExchange(namespace, Channels.paymentSettled), body({ id: "other channel" })) },
			},
		];
		await publishStraight(
			exchange,
			forged.map(({ headers, ...message }) => ({ content: body(message), headers })),
		);
		// Published after them on the same queue: once it is handled, they have been consumed.
		await publisher.publish(channel, { id: "genuine" });
		await waitFor(() => handled.includes("genuine"), "the genuine message");
		await waitFor(
			async () => (await onChannel((ch) => ch.checkQueue(dead))).messageCount === forged.length,
			"the forged messages in the dead-letter queue",
		);

		const forgedIds = forged.map((message) => message.id);
		expect(runs.filter((run) => forgedIds.includes(run.id))).toEqual([]);
		const deadLetters = await onChannel(async (ch) => {
			const messages: amqp.GetMessage[] = [];
			for (let message = await ch.get(dead, { noAck: true }); message; message = await ch.get(dead, { noAck: true })) messages.push(message);
			return messages;
		});
		expect(
			deadLetters.map((message) => ({
				id: (JSON.parse(message.content.toString()) as { id: string }).id,
				rejected: message.properties.headers?.[REJECTED_HEADER],
				channel: message.properties.headers?.["x-original-channel"],
				group: message.properties.headers?.["x-original-group"],
				redelivered: message.properties.headers?.[REDELIVERED_COUNT_HEADER],
			})),
		).toEqual([
			{ id: "unsigned", rejected: "signature: missing", channel: exchange, group, redelivered: undefined },
			{ id: "other secret", rejected: "signature: unknown-secret", channel: exchange, group, redelivered: undefined },
			{ id: "altered", rejected: "signature: mismatch", channel: exchange, group, redelivered: undefined },
			{ id: "other channel", rejected: "signature: mismatch", channel: exchange, group, redelivered: undefined },
		]);
		// The forged bodies are kept as they came, as evidence.
		expect(JSON.parse(deadLetters[2].content.toString())).toEqual({ id: "altered", amount: 100_000 });

		// One error per channel and failure, within the minute.
		const refusals = log.filter((line) => line.includes(`Messages of '${exchange}'`));
		expect(refusals).toEqual([
			expect.stringMatching(/^error Channels: Messages of '.*' that carry no signature: moved to .*DEAD_LETTER unhandled \[payment\]/),
			expect.stringMatching(/that are signed with a cluster secret this node does not accept .*: moved to/),
			expect.stringMatching(/that carry a signature that does not match \(forged or altered\): moved to/),
		]);
		// Nothing was put back on the consumers' queue for another attempt.
		expect((await onChannel((ch) => ch.checkQueue(channelQueue(namespace, channel, group)))).messageCount).toBe(0);
	});
});

describe("channel messages without a signer", () => {
	const namespace = `unsigned-${randomBytes(5).toString("hex")}`;
	const runs: { id: string; count: number }[] = [];
	const handled: string[] = [];
	let broker: ServiceBroker;

	beforeAll(async () => {
		broker = consumer(namespace, undefined, recordingService(runs, handled), []);
		await broker.start();
	});

	afterAll(async () => {
		await broker.stop();
		await deleteChannelQueues(namespace);
	});

	it("are handled unsigned, as before", async () => {
		await broker.sendToChannel(channel, { id: "sent" });
		await publishStraight(channelExchange(namespace, channel), [{ content: body({ id: "published" }) }]);
		await waitFor(() => handled.includes("sent") && handled.includes("published"), "both unsigned messages");
	});
});
