import type { Transaction } from "sequelize";
import type { Payment, PaymentStatus } from "../../shared/contracts.js";
import { SqlRepository } from "../../shared/sql-repository.js";

interface PaymentRow {
	id: string;
	order_id: string;
	user_id: string;
	amount: string;
	currency: string;
	provider: string;
	status: PaymentStatus;
	failure_code: string | null;
	provider_reference: string | null;
	created_at: Date;
	updated_at: Date;
}

export type NewPayment = Pick<Payment, "id" | "orderId" | "userId" | "amount" | "currency" | "provider">;

/** What the provider said: the payment leaves `processing` with it. */
export interface PaymentOutcome {
	status: "succeeded" | "failed" | "pending";
	providerReference: string | null;
	failureCode: string | null;
}

const toPayment = (row: PaymentRow): Payment => ({
	id: row.id,
	orderId: row.order_id,
	userId: row.user_id,
	amount: Number(row.amount),
	currency: row.currency,
	provider: row.provider,
	status: row.status,
	failureCode: row.failure_code,
	providerReference: row.provider_reference,
	createdAt: new Date(row.created_at).toISOString(),
	updatedAt: new Date(row.updated_at).toISOString(),
});

/** SQL for the `payments` schema; the service decides when, this says how. */
export class PaymentRepository extends SqlRepository {
	/** Records the order's payment as `processing` unless the order has one already (one payment per order). */
	async insertProcessing(payment: NewPayment, transaction?: Transaction): Promise<void> {
		await this.execute(
			`INSERT INTO payments.payments (id, order_id, user_id, amount, currency, provider, status)
			 VALUES (:id, :orderId, :userId, :amount, :currency, :provider, 'processing')
			 ON CONFLICT (order_id) DO NOTHING`,
			{ ...payment },
			transaction,
		);
	}

	async findByOrderId(orderId: string, transaction?: Transaction): Promise<Payment | null> {
		const row = await this.row<PaymentRow>(`SELECT * FROM payments.payments WHERE order_id = :orderId`, { orderId }, transaction);
		return row ? toPayment(row) : null;
	}

	/** Moves the payment out of `processing`; null when it was not there any more (settled by another delivery). */
	async settle(id: string, outcome: PaymentOutcome, transaction: Transaction): Promise<Payment | null> {
		const row = await this.row<PaymentRow>(
			`UPDATE payments.payments SET status = :status, provider_reference = :providerReference, failure_code = :failureCode, updated_at = now()
			  WHERE id = :id AND status = 'processing' RETURNING *`,
			{ id, ...outcome },
			transaction,
		);
		return row ? toPayment(row) : null;
	}

	/** The newest payments first; those of `userId` (everyone's when null), of `orderId` when given. */
	async list(filter: { userId: string | null; orderId: string | null }, limit: number, offset: number): Promise<{ items: Payment[]; total: number }> {
		const conditions = [filter.userId ? "user_id = :userId" : null, filter.orderId ? "order_id = :orderId" : null].filter(Boolean);
		const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
		const replacements = { ...filter, limit, offset };
		const [rows, [{ count }]] = await Promise.all([
			// The id breaks ties, so that pages never repeat or skip a payment.
			this.rows<PaymentRow>(`SELECT * FROM payments.payments ${where} ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset`, replacements),
			this.rows<{ count: string }>(`SELECT count(*) FROM payments.payments ${where}`, replacements),
		]);
		return { items: rows.map(toPayment), total: Number(count) };
	}
}
