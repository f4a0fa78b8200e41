import { QueryTypes, type Sequelize, type Transaction } from "sequelize";

/**
 * What every repository does with raw SQL, said once: named replacements in,
 * plain rows out, and the caller's transaction (if any) passed with every
 * statement, so that the service decides what commits together.
 */
export abstract class SqlRepository {
	constructor(protected readonly sequelize: Sequelize) {}

	protected rows<Row extends object>(sql: string, replacements?: Record<string, unknown>, transaction?: Transaction): Promise<Row[]> {
		return this.sequelize.query<Row>(sql, { replacements, type: QueryTypes.SELECT, transaction });
	}

	/** The first row, or null when there is none. */
	protected async row<Row extends object>(sql: string, replacements?: Record<string, unknown>, transaction?: Transaction): Promise<Row | null> {
		const [first] = await this.rows<Row>(sql, replacements, transaction);
		return first ?? null;
	}

	/** For statements that return no rows; resolves to how many rows they changed. */
	protected async execute(sql: string, replacements?: Record<string, unknown>, transaction?: Transaction): Promise<number> {
		// As an UPDATE, sequelize answers every statement with its row count (INSERT and DELETE too).
		const [, affected] = await this.sequelize.query(sql, { replacements, type: QueryTypes.UPDATE, transaction });
		return affected;
	}
}
