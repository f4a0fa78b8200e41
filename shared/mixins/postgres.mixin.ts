import type { Service, ServiceSchema } from "moleculer";
import { QueryTypes, Sequelize, type Transaction } from "sequelize";
import { Umzug, type MigrationParams, type UmzugStorage } from "umzug";
import { DependencyErrorsMixin } from "../dependency-failures.js";
import { HealthMixin, registerHealthProbe } from "../health.js";
import { preparePostgres } from "../postgres-bootstrap.js";
import type { ShopService } from "../service-settings.js";

/**
 * A service that owns PostgreSQL data gets its own schema (auth, orders,
 * payments, inventory, logs) in the shared database, its own connection pool
 * and its own migrations, run at start under an advisory lock so that several
 * replicas starting together migrate once. Its SQL lives in its repositories
 * (one per aggregate, like services/order/order.repository.ts, each a
 * SqlRepository from shared/sql-repository.ts), made in the service's
 * `created` with this connection: never bound at module level, so two
 * instances in one process each use their own database.
 */
export interface Migration {
	name: string;
	up(params: MigrationParams<MigrationContext>): Promise<void>;
	down(params: MigrationParams<MigrationContext>): Promise<void>;
}

/** What umzug hands each migration: the service's connection and the migration run's transaction. */
export interface MigrationContext {
	sequelize: Sequelize;
	/** Every query of a migration goes in it (runSql does that). */
	transaction: Transaction;
}

export interface PostgresMixinOptions {
	schema: string;
	/** The service's migrations in order, from its migrations/index.ts. */
	migrations: Migration[];
	poolSize?: number;
}

export interface PostgresThis {
	sequelize: Sequelize;
	withTransaction<T>(work: (transaction: Transaction) => Promise<T>): Promise<T>;
}

export function PostgresMixin(options: PostgresMixinOptions): Partial<ServiceSchema> {
	return {
		mixins: [HealthMixin, DependencyErrorsMixin],

		methods: {
			withTransaction<T>(this: Service & PostgresThis, work: (transaction: Transaction) => Promise<T>): Promise<T> {
				return this.sequelize.transaction(work);
			},
		},

		created(this: Service) {
			const service = this as ShopService & PostgresThis;
			const { databaseUrl } = service.settings.config;
			if (!databaseUrl) throw new Error(`Service "${this.name}" needs PostgreSQL: set DATABASE_URL`);
			service.sequelize = new Sequelize(databaseUrl, {
				dialect: "postgres",
				logging: false,
				pool: { max: options.poolSize ?? 10, min: 0, idle: 10_000, acquire: 30_000 },
			});
			registerHealthProbe(this, "postgres", () => service.sequelize.query("SELECT 1", { type: QueryTypes.SELECT }));
		},

		async started(this: Service) {
			const service = this as ShopService & PostgresThis;
			const { databaseUrl, dependencyWaitSeconds } = service.settings.config;
			await preparePostgres(databaseUrl!, dependencyWaitSeconds * 1000);
			await migrate(service.sequelize, options);
		},

		async stopped(this: Service) {
			await (this as Service & PostgresThis).sequelize.close();
		},
	};
}

export async function migrate(sequelize: Sequelize, options: Pick<PostgresMixinOptions, "schema" | "migrations">): Promise<void> {
	const { schema } = options;
	const lockKey = `moleculer-shop:migrations:${schema}`;
	// The lock and every migration share one transaction: replicas starting
	// together wait for each other, and a start-up's migrations commit together
	// or not at all.
	await sequelize.transaction(async (lockTx) => {
		await sequelize.query("SELECT pg_advisory_xact_lock(hashtext(:lockKey))", { replacements: { lockKey }, transaction: lockTx });
		await sequelize.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`, { transaction: lockTx });
		const umzug = new Umzug<MigrationContext>({
			migrations: options.migrations.map((m) => ({ name: m.name, up: m.up, down: m.down })),
			context: { sequelize, transaction: lockTx },
			storage: new TransactionalStorage(sequelize, schema, lockTx),
			logger: undefined,
		});
		await umzug.up();
	});
}

/** Runs one migration's SQL statements in the migration transaction. */
export async function runSql({ sequelize, transaction }: MigrationContext, statements: string[]): Promise<void> {
	for (const sql of statements) await sequelize.query(sql, { transaction });
}

/** A migration that is SQL only: its statements run in order, in the migration transaction. */
export function sqlMigration(name: string, { up, down }: { up: string[]; down: string[] }): Migration {
	return {
		name,
		up: ({ context }) => runSql(context, up),
		down: ({ context }) => runSql(context, down),
	};
}

/** umzug's record of applied migrations, kept in the migration transaction. */
class TransactionalStorage implements UmzugStorage<MigrationContext> {
	private readonly table: string;

	constructor(
		private readonly sequelize: Sequelize,
		schema: string,
		private readonly transaction: Transaction,
	) {
		this.table = `"${schema}".schema_migrations`;
	}

	async logMigration({ name }: { name: string }): Promise<void> {
		await this.ensureTable();
		await this.sequelize.query(`INSERT INTO ${this.table} (name) VALUES (:name)`, { replacements: { name }, transaction: this.transaction });
	}

	async unlogMigration({ name }: { name: string }): Promise<void> {
		await this.ensureTable();
		await this.sequelize.query(`DELETE FROM ${this.table} WHERE name = :name`, { replacements: { name }, transaction: this.transaction });
	}

	async executed(): Promise<string[]> {
		await this.ensureTable();
		const rows = await this.sequelize.query<{ name: string }>(`SELECT name FROM ${this.table} ORDER BY applied_at, name`, {
			type: QueryTypes.SELECT,
			transaction: this.transaction,
		});
		return rows.map((row) => row.name);
	}

	private async ensureTable(): Promise<void> {
		await this.sequelize.query(`CREATE TABLE IF NOT EXISTS ${this.table} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`, {
			transaction: this.transaction,
		});
	}
}
