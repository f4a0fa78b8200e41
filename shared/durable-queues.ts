import amqp from "amqplib";

/**
 * Declares, on RabbitMQ, the exchange of each channel a service publishes and
 * the durable queue of each of its consumer groups, named as the
 * @moleculer/channels AMQP adapter names them (`<prefix>.<channel>` fanout
 * exchange, `<group>.<prefix>.<channel>` queue) and with the same options, so
 * the adapter finds them as its own when the consumer subscribes.
 */
export async function declareDurableQueues(amqpUrl: string, prefix: string, publishes: Record<string, readonly string[]>): Promise<void> {
	const connection = await amqp.connect(amqpUrl.split(";")[0]);
	try {
		const channel = await connection.createChannel();
		for (const [name, groups] of Object.entries(publishes)) {
			const exchange = `${prefix}.${name}`;
			await channel.assertExchange(exchange, "fanout", { durable: true });
			for (const group of groups) {
				const queue = `${group}.${exchange}`;
				await channel.assertQueue(queue, { durable: true });
				await channel.bindQueue(queue, exchange, "");
			}
		}
	} finally {
		await connection.close();
	}
}
