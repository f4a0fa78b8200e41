import type { Service, ServiceSchema } from "moleculer";
import { QueryTypes, type Sequelize, type Transaction } from "sequelize";
import { loadConfig } from "../config.js";
import { declareDurableQueues } from "../durable-queues.js";
import { runSql, type Migration, type PostgresThis } from "./postgres.mixin.js";

/**
 * Transactional outbox: a fact ("order created", "payment settled") is written
 * in the same transaction as the change it reports, then published to its
 * durable channel (RabbitMQ via @moleculer/channels). A relay republishes
 * whatever is still unpublished, so a crash between commit and publish loses
 * nothing; consumers are idempotent, so a second delivery changes nothing.
 */
export function outboxMigration(schema: string): Migration {
	return {
		name: "create-outbox",
		async up({ context: sequelize }) {
			await runSql(sequelize, [
				`CREATE TABLE "${schema}".outbox (
					id bigserial PRIMARY KEY,
					channel text NOT NULL,
					payload jsonb NOT NULL,
					created_at timestamptz NOT NULL DEFAULT now(),
					published_at timestamptz,
					attempts integer NOT NULL DEFAULT 0
				)`,
				`CREATE INDEX outbox_unpublished_idx ON "${schema}".outbox (id) WHERE published_at IS NULL`,
			]);
		},
		async down({ context: sequelize }) {
			await runSql(sequelize, [`DROP TABLE "${schema}".outbox`]);
		},
	};
}

export interface OutboxThis {
	/** Records a message to publish once `transaction` commits. */
	addToOutbox(transaction: Transaction, channel: string, payload: object): Promise<void>;
	/** Publishes pending messages now (call after the commit); the relay timer catches the rest. */
	relayOutbox(): Promise<number>;
}

export interface OutboxOptions {
	schema: string;
	/** The channels this service publishes, with their consumer groups (ChannelConsumers). */
	publishes: Record<string, readonly string[]>;
	relayIntervalMs?: number;
	batchSize?: number;
}

type This = Service & PostgresThis & OutboxThis & { outboxTimer?: NodeJS.Timeout; outboxRelaying?: Promise<number>; outboxRelayAgain?: boolean };

export function OutboxMixin({ schema, publishes, relayIntervalMs = 2000, batchSize = 100 }: OutboxOptions): Partial<ServiceSchema> {
	return {
		methods: {
			async addToOutbox(this: This, transaction: Transaction, channel: string, payload: object) {
				await this.sequelize.query(`INSERT INTO "${schema}".outbox (channel, payload) VALUES (:channel, :payload)`, {
					replacements: { channel, payload: JSON.stringify(payload) },
					transaction,
				});
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
			const { transporterUrl } = loadConfig();
			if (transporterUrl) await declareDurableQueues(transporterUrl, this.broker.namespace, publishes);
			service.outboxTimer = setInterval(() => {
				service.relayOutbox().catch((err) => service.logger.warn("Outbox relay failed; retrying on the next tick:", (err as Error).message));
			}, relayIntervalMs);
			service.outboxTimer.unref();
		},

		async stopped(this: Service) {
			const service = this as This;
			clearInterval(service.outboxTimer);
			await service.outboxRelaying?.catch(() => undefined);
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
		const published: string[] = [];
		for (const row of rows) {
			try {
				await service.broker.sendToChannel(row.channel, row.payload, { persistent: true, headers: { "x-outbox-id": `${schema}:${row.id}` } });
				published.push(row.id);
			} catch (err) {
				service.logger.warn(`Outbox message ${schema}:${row.id} not published yet:`, (err as Error).message);
				await sequelize.query(`UPDATE "${schema}".outbox SET attempts = attempts + 1 WHERE id = :id`, { replacements: { id: row.id }, transaction });
				break;
			}
		}
		if (published.length) {
			await sequelize.query(`UPDATE "${schema}".outbox SET published_at = now() WHERE id IN (:ids)`, { replacements: { ids: published }, transaction });
		}
		return published.length;
	});
}
