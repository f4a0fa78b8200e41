import type { Service, ServiceSchema } from "moleculer";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { registerHealthProbe } from "../health.js";
import { ConfirmedPublisher } from "../messaging/confirmed-publisher.js";
import { MessageSigner } from "../messaging/message-signing.js";
import { ChannelConsumers, type DurableChannel } from "../contracts.js";
import type { ShopService } from "../service-settings.js";
import { sqlMigration, type Migration, type PostgresThis } from "./postgres.mixin.js";

/**
 * Transactional outbox: a fact ("order created", "payment settled") is written
 * in the same transaction as the change it reports, then published to its
 * durable channel. A relay republishes whatever is still unpublished, so a
 * crash between commit and publish loses nothing; consumers are idempotent, so
 * a second delivery changes nothing.
 *
 * Over RabbitMQ (TRANSPORTER set) the relay publishes with confirms
 * (ConfirmedPublisher) and marks a row published only once RabbitMQ has
 * confirmed it; in process (no TRANSPORTER) it goes through
 * broker.sendToChannel. Why, and the rest of a fact's way:
 * shared/messaging/topology.ts.
 */
export function outboxMigration(schema: string): Migration {
	return sqlMigration("create-outbox", {
		up: [
			`CREATE TABLE "${schema}".outbox (
				id bigserial PRIMARY KEY,
				channel text NOT NULL,
				payload jsonb NOT NULL,
				created_at timestamptz NOT NULL DEFAULT now(),
				published_at timestamptz,
				attempts integer NOT NULL DEFAULT 0
			)`,
			`CREATE INDEX outbox_unpublished_idx ON "${schema}".outbox (id) WHERE published_at IS NULL`,
		],
		down: [`DROP TABLE "${schema}".outbox`],
	});
}

export interface OutboxThis {
	/** Records a message to publish once `transaction` commits. */
	addToOutbox(transaction: Transaction, channel: DurableChannel, payload: object): Promise<void>;
	/** Publishes pending messages now; the relay timer catches the rest. */
	relayOutbox(): Promise<number>;
	/** After a commit: starts a relay without waiting for it; if it fails, the timer's next run publishes. */
	relayOutboxSoon(): void;
}

export interface OutboxOptions {
	schema: string;
	/** The channels this service publishes; their consumer groups, whose queues it declares, come from ChannelConsumers. */
	publishes: readonly DurableChannel[];
	relayIntervalMs?: number;
	batchSize?: number;
}

type This = ShopService &
	PostgresThis &
	OutboxThis & {
		outboxTimer?: NodeJS.Timeout;
		outboxRelaying?: Promise<number>;
		outboxRelayAgain?: boolean;
		/** Set when TRANSPORTER is: publishes with confirms. */
		outboxPublisher?: ConfirmedPublisher;
	};

export function OutboxMixin({ schema, publishes, relayIntervalMs = 2000, batchSize = 100 }: OutboxOptions): Partial<ServiceSchema> {
	return {
		methods: {
			async addToOutbox(this: This, transaction: Transaction, channel: DurableChannel, payload: object) {
				await this.sequelize.query(`INSERT INTO "${schema}".outbox (channel, payload) VALUES (:channel, :payload)`, {
					replacements: { channel, payload: JSON.stringify(payload) },
					transaction,
				});
			},

			relayOutboxSoon(this: This) {
				this.relayOutbox().catch((err: Error) => this.logger.warn("Outbox relay failed; the timer retries:", err.message));
			},

			relayOutbox(this: This): Promise<number> {
				// One relay at a time per service instance. A caller arriving
				// during a run (its row may have committed after the run's
				// SELECT) makes the run go round once more instead of waiting
				// for the next tick.
				if (this.outboxRelaying) {
					this.outboxRelayAgain = true;
					return this.outboxRelaying;
				}
				const relay = async () => {
					let published = 0;
					do {
						this.outboxRelayAgain = false;
						published += await publishPending(this, this.sequelize, schema, batchSize);
					} while (this.outboxRelayAgain);
					return published;
				};
				this.outboxRelaying = relay().finally(() => {
					this.outboxRelaying = undefined;
				});
				return this.outboxRelaying;
			},
		},

		async started(this: Service) {
			const service = this as This;
			const { transporterUrl, clusterSecrets } = service.settings.config;
			if (transporterUrl) {
				const publisher = new ConfirmedPublisher({
					url: transporterUrl,
					namespace: this.broker.namespace,
					publishes: Object.fromEntries(publishes.map((channel) => [channel, ChannelConsumers[channel]])),
					connectionName: `outbox ${this.fullName}@${this.broker.nodeID}`,
					logger: this.logger,
					// Consumers dead-letter what is not signed with the cluster secret.
					signer: clusterSecrets && new MessageSigner(clusterSecrets),
				});
				service.outboxPublisher = publisher;
				// Connected, and the consumers' queues declared, before anything is published.
				await publisher.start().catch(async (err: unknown) => {
					await publisher.close(); // no reconnecting in the background of a service that did not start
					throw err;
				});
				// Down while the publisher has no connection (it reconnects by itself), up once it has one again.
				registerHealthProbe(this, "rabbitmq", async () => publisher.assertConnected());
			}
			service.outboxTimer = setInterval(() => {
				service.relayOutbox().catch((err) => service.logger.warn("Outbox relay failed; retrying on the next tick:", (err as Error).message));
			}, relayIntervalMs);
			service.outboxTimer.unref();
		},

		async stopped(this: Service) {
			const service = this as This;
			clearInterval(service.outboxTimer);
			await service.outboxRelaying?.catch(() => undefined);
			await service.outboxPublisher?.close();
		},
	};
}

async function publishPending(service: This, sequelize: Sequelize, schema: string, batchSize: number): Promise<number> {
	return sequelize.transaction(async (transaction) => {
		// SKIP LOCKED: replicas relaying at the same time take different rows.
		const rows = await sequelize.query<{ id: string; channel: string; payload: object }>(
			`SELECT id, channel, payload FROM "${schema}".outbox
			  WHERE published_at IS NULL ORDER BY id LIMIT :batchSize FOR UPDATE SKIP LOCKED`,
			{ replacements: { batchSize }, type: QueryTypes.SELECT, transaction },
		);
		const publisher = service.outboxPublisher;
		const publish = (row: (typeof rows)[number]): Promise<void> => {
			const headers = { "x-outbox-id": `${schema}:${row.id}` };
			return publisher
				? publisher.publish(row.channel, row.payload, headers)
				: service.broker.sendToChannel(row.channel, row.payload, { persistent: true, headers });
		};
		// All sent at once, each confirmed on its own: a row counts as published
		// only if its own publish resolved (with confirms: RabbitMQ has it).
		const results = await Promise.allSettled(rows.map(publish));
		const published = rows.filter((_, i) => results[i].status === "fulfilled").map((row) => row.id);
		const failed = rows.filter((_, i) => results[i].status === "rejected").map((row) => row.id);
		if (failed.length) {
			const reason = (results.find((result) => result.status === "rejected") as PromiseRejectedResult).reason as Error;
			service.logger.warn(
				`${failed.length} outbox message(s) of ${schema} not published yet (first: ${schema}:${failed[0]}):`,
				reason?.message ?? reason,
			);
			await sequelize.query(`UPDATE "${schema}".outbox SET attempts = attempts + 1 WHERE id IN (:ids)`, { replacements: { ids: failed }, transaction });
		}
		if (published.length) {
			await sequelize.query(`UPDATE "${schema}".outbox SET published_at = now() WHERE id IN (:ids)`, { replacements: { ids: published }, transaction });
		}
		return published.length;
	});
}
