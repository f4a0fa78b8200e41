import amqp from "amqplib";
import { testServers } from "./servers.js";

/**
 * What Moleculer's AMQP transporter leaves in RabbitMQ for a namespace once
 * its nodes have stopped: the fanout exchanges of the broadcast packets, and
 * each node's request, response and event queues (which RabbitMQ would delete
 * only two minutes after their last consumer). The broadcast packets' per-node
 * queues are auto-deleted with their consumers. Deleting what does not exist
 * is not an error.
 */
export async function deleteTransporterTopology(namespace: string, nodeIDs: readonly string[]): Promise<void> {
	const prefix = `MOL-${namespace}`;
	const connection = await amqp.connect(testServers.amqpUrl);
	try {
		const channel = await connection.createChannel();
		for (const nodeID of nodeIDs) {
			for (const packet of ["REQ", "RES", "EVENT"]) await channel.deleteQueue(`${prefix}.${packet}.${nodeID}`);
		}
		for (const packet of ["DISCOVER", "INFO", "DISCONNECT", "HEARTBEAT", "PING"]) await channel.deleteExchange(`${prefix}.${packet}`);
	} finally {
		await connection.close();
	}
}
