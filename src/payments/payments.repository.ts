import { Inject, Injectable } from '@nestjs/common';
import type { Insertable, Selectable, Transaction, Updateable } from 'kysely';
import type { CursorPosition } from '../common/http/pagination';
import { DATABASE_HANDLE } from '../database/database.module';
import type { DatabaseHandle } from '../database/database.factory';
import type { DatabaseSchema, Db, Dialect } from '../database/database.types';
import {
  CREATING,
  type PaymentStatus,
  type PaymentsTable,
  type RefundsTable,
} from './payments.tables';
import { newestFirstPage } from '../database/newest-first';

export type PaymentRow = Selectable<PaymentsTable>;
export type NewPaymentRow = Insertable<PaymentsTable>;
/** A refund row to insert once its amount is known: `amount` absent means what remains. */
export type RefundDraft = Omit<Insertable<RefundsTable>, 'amount'> & { amount?: number };
export type RefundRow = Selectable<RefundsTable>;
export type PaymentPatch = Updateable<PaymentsTable>;
type Executor = Db | Transaction<DatabaseSchema>;

/** Refunds that hold part of the payment: on their way or done (not failed, canceled or unanswered). */
const COMMITTED_REFUND_STATUSES = ['pending', 'requires_action', 'succeeded'] as const;

/**
 * The `payments` and `refunds` tables. Rows still `creating` (no provider id)
 * are invisible to the `findVisible`/`list` reads that serve clients.
 */
@Injectable()
export class PaymentsRepository {
  private readonly db: Db;
  private readonly dialect: Dialect;

  constructor(@Inject(DATABASE_HANDLE) handle: DatabaseHandle) {
    this.db = handle.db;
    this.dialect = handle.dialect;
  }

  /** Inserts the row unless one has its idempotency key; returns the stored row either way. */
  async insertPayment(row: Insertable<PaymentsTable>): Promise<PaymentRow> {
    await this.db
      .insertInto('payments')
      .values(row)
      .onConflict((oc) => oc.column('idempotency_key').doNothing())
      .execute();
    const stored = await this.findPaymentByIdempotencyKey(row.idempotency_key);
    if (!stored) throw new Error('payment row vanished after insert');
    return stored;
  }

  findPayment(id: string): Promise<PaymentRow | undefined> {
    return this.db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findVisiblePayment(id: string): Promise<PaymentRow | undefined> {
    return this.db
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', id)
      .where('provider_id', 'is not', null)
      .executeTakeFirst();
  }

  findPaymentByProviderId(providerId: string): Promise<PaymentRow | undefined> {
    return this.db
      .selectFrom('payments')
      .selectAll()
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
  }

  /**
   * The payment a Stripe event is about: by the PaymentIntent's id, or else by
   * the idempotency key of the request that caused the event (our create, when
   * its answer has not been recorded yet).
   */
  async findPaymentForEvent(
    providerId: string,
    requestKey: string | null,
  ): Promise<PaymentRow | undefined> {
    // Two index lookups, the second only when the first finds nothing: one `provider_id = ?
    // OR idempotency_key = ?` costs SQLite a multi-index OR, about three single lookups.
    const byProviderId = await this.findPaymentByProviderId(providerId);
    if (byProviderId || requestKey === null) return byProviderId;
    return this.findPaymentByIdempotencyKey(requestKey);
  }

  findPaymentByIdempotencyKey(key: string): Promise<PaymentRow | undefined> {
    return this.db
      .selectFrom('payments')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  /** Newest first, one row more than `limit` so the caller knows whether another page exists. */
  listPayments(filter: {
    status?: PaymentStatus;
    limit: number;
    after?: CursorPosition;
  }): Promise<PaymentRow[]> {
    let query = this.db.selectFrom('payments').selectAll().where('provider_id', 'is not', null);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    return newestFirstPage(query, filter.after, filter.limit).execute();
  }

  /**
   * Writes `patch` only if the row still has the status and position it was
   * decided from (compare-and-set); undefined when another writer got there first.
   */
  async updatePaymentIfUnchanged(
    seen: Pick<PaymentRow, 'id' | 'status' | 'status_as_of'>,
    patch: PaymentPatch,
  ): Promise<PaymentRow | undefined> {
    const result = await this.db
      .updateTable('payments')
      .set(patch)
      .where('id', '=', seen.id)
      .where('status', '=', seen.status)
      .where('status_as_of', '=', seen.status_as_of)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    return this.findPayment(seen.id);
  }

  /** Removes a row Stripe never acted on (it refused the request before executing it). */
  async deleteCreatingPayment(id: string): Promise<void> {
    await this.db
      .deleteFrom('payments')
      .where('id', '=', id)
      .where('provider_id', 'is', null)
      .where('status', '=', CREATING)
      .execute();
  }

  /** `amount_refunded` := the sum of the payment's succeeded refunds. */
  async recomputeAmountRefunded(paymentId: string, now: Date): Promise<void> {
    await this.db
      .updateTable('payments')
      .set((eb) => ({
        amount_refunded: eb
          .selectFrom('refunds')
          .select((r) => r.fn.coalesce(r.fn.sum<number>('amount'), r.lit(0)).as('total'))
          .where('refunds.payment_id', '=', paymentId)
          .where('refunds.status', '=', 'succeeded'),
        updated_at: now.toISOString(),
      }))
      .where('id', '=', paymentId)
      .execute();
  }

  // ---- refunds ----------------------------------------------------------------------------

  async insertRefund(row: Insertable<RefundsTable>): Promise<RefundRow> {
    if (row.idempotency_key) {
      await this.db
        .insertInto('refunds')
        .values(row)
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      const stored = await this.findRefundByIdempotencyKey(row.idempotency_key);
      if (!stored) throw new Error('refund row vanished after insert');
      return stored;
    }
    // A refund learnt from Stripe: its provider id is the key.
    await this.db
      .insertInto('refunds')
      .values(row)
      .onConflict((oc) => oc.column('provider_id').doNothing())
      .execute();
    const stored = await this.findRefundByProviderId(row.provider_id ?? '');
    if (!stored) throw new Error('refund row vanished after insert');
    return stored;
  }

  findRefund(id: string): Promise<RefundRow | undefined> {
    return this.db.selectFrom('refunds').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findRefundByProviderId(providerId: string): Promise<RefundRow | undefined> {
    return this.db
      .selectFrom('refunds')
      .selectAll()
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
  }

  findRefundByIdempotencyKey(key: string): Promise<RefundRow | undefined> {
    return this.db
      .selectFrom('refunds')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
  }

  /**
   * What the payment's other refunds hold, in minor units: those Stripe has
   * (pending or succeeded), and ours created since `inFlightSince` whose call
   * has not answered yet.
   */
  async heldRefundTotal(
    paymentId: string,
    inFlightSince: string,
    exceptRefundId?: string,
    trx: Executor = this.db,
  ): Promise<number> {
    let query = trx
      .selectFrom('refunds')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('total'))
      .where('payment_id', '=', paymentId)
      .where((eb) =>
        eb.or([
          eb.and([
            eb('provider_id', 'is not', null),
            eb('status', 'in', COMMITTED_REFUND_STATUSES),
          ]),
          eb.and([eb('status', '=', CREATING), eb('created_at', '>=', inFlightSince)]),
        ]),
      );
    if (exceptRefundId !== undefined) query = query.where('id', '<>', exceptRefundId);
    const row = await query.executeTakeFirstOrThrow();
    return Number(row.total);
  }

  /**
   * Inserts the refund if the payment has room for it beside what its other
   * refunds hold ({@link heldRefundTotal}); `row` undefined when it has not.
   * One transaction that first locks the payment's row, so refunds of one
   * payment are checked one after another, whichever instance serves them.
   */
  async reserveRefund(
    draft: RefundDraft,
    inFlightSince: string,
  ): Promise<{ row?: RefundRow; remaining: number }> {
    return this.db.transaction().execute(async (trx) => {
      let lock = trx.selectFrom('payments').select('amount').where('id', '=', draft.payment_id);
      // SQLite has no row locks: its one writer at a time serializes the transaction instead.
      if (this.dialect === 'postgres') lock = lock.forUpdate();
      const payment = await lock.executeTakeFirst();
      if (!payment) throw new Error(`payment ${draft.payment_id} not found`);
      const remaining =
        payment.amount -
        (await this.heldRefundTotal(draft.payment_id, inFlightSince, undefined, trx));
      const amount = draft.amount ?? remaining;
      if (amount < 1 || amount > remaining) return { remaining };
      await trx
        .insertInto('refunds')
        .values({ ...draft, amount })
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .execute();
      const row = await trx
        .selectFrom('refunds')
        .selectAll()
        .where('idempotency_key', '=', draft.idempotency_key ?? '')
        .executeTakeFirst();
      if (!row) throw new Error('refund row vanished after insert');
      return { row, remaining };
    });
  }

  async updateRefundIfUnchanged(
    seen: Pick<RefundRow, 'id' | 'status'>,
    patch: Updateable<RefundsTable>,
  ): Promise<RefundRow | undefined> {
    const result = await this.db
      .updateTable('refunds')
      .set(patch)
      .where('id', '=', seen.id)
      .where('status', '=', seen.status)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return undefined;
    return this.findRefund(seen.id);
  }

  async deleteCreatingRefund(id: string): Promise<void> {
    await this.db
      .deleteFrom('refunds')
      .where('id', '=', id)
      .where('provider_id', 'is', null)
      .where('status', '=', CREATING)
      .execute();
  }
}
