import { Injectable } from '@nestjs/common';
import type { Selectable, Transaction } from 'kysely';
import { InjectDb } from '../database/database.module';
import type { DatabaseSchema, Db } from '../database/database.types';
import type { SmsEventsTable, SmsInboundMessagesTable, SmsMessagesTable } from './sms.tables';
import { SmsStatus, statusesBelow } from './sms-status';
import { newestFirstPage } from '../database/newest-first';
import { inTransaction } from '../database/transaction';
import { WriteBatcher } from '../database/write-batcher';
import { chunks, INSERT_CHUNK_ROWS } from '../database/chunks';

export type SmsMessageRow = Selectable<SmsMessagesTable>;
export type SmsEventRow = Selectable<SmsEventsTable>;
export type SmsInboundRow = Selectable<SmsInboundMessagesTable>;
type Executor = Db | Transaction<DatabaseSchema>;

export interface SmsListFilter {
  status?: SmsStatus;
  limit: number;
  /** Strictly after this (created_at, id), newest first. */
  after?: { createdAt: string; id: string };
}

/** What Twilio's answer to a send records. */
export interface Accepted {
  providerId: string;
  status: SmsStatus;
  from: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}

/** What a status callback changes: the status (forward only) and, for a failure, why. */
export interface StatusChange {
  status: SmsStatus;
  error?: { code: string | null; message: string };
  from: string | null;
  at: string;
}

/**
 * The SMS tables. Status changes are conditional updates (`WHERE status IN
 * <lower ranks>`), so concurrent callbacks and jobs can only move a message
 * forward, whatever order they commit in.
 */
@Injectable()
export class SmsRepository {
  private readonly attempts = new WriteBatcher<{ id: string; at: string }, void>((items) =>
    this.countAttempts(items),
  );
  private readonly accepted = new WriteBatcher<{ id: string; values: Accepted; at: string }, void>(
    (items) => this.markAllAccepted(items),
  );

  constructor(@InjectDb() private readonly db: Db) {}

  transaction<T>(fn: (trx: Transaction<DatabaseSchema>) => Promise<T>): Promise<T> {
    return inTransaction(this.db, fn);
  }

  /** One multi-row INSERT per {@link INSERT_CHUNK_ROWS} messages. */
  async insertMany(trx: Executor, rows: readonly SmsMessageRow[]): Promise<void> {
    for (const chunk of chunks(rows, INSERT_CHUNK_ROWS))
      await trx.insertInto('sms_messages').values(chunk).execute();
  }

  findById(id: string, trx: Executor = this.db): Promise<SmsMessageRow | undefined> {
    return trx.selectFrom('sms_messages').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByProviderId(
    providerId: string,
    trx: Executor = this.db,
  ): Promise<SmsMessageRow | undefined> {
    return trx
      .selectFrom('sms_messages')
      .selectAll()
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
  }

  /** Newest first; one row more than `limit`, so the caller knows whether a next page exists. */
  list(filter: SmsListFilter): Promise<SmsMessageRow[]> {
    let query = this.db.selectFrom('sms_messages').selectAll();
    if (filter.status) query = query.where('status', '=', filter.status);
    return newestFirstPage(query, filter.after, filter.limit).execute();
  }

  /** Events of these messages, oldest first. */
  async eventsOf(messageIds: readonly string[]): Promise<SmsEventRow[]> {
    if (messageIds.length === 0) return [];
    return this.db
      .selectFrom('sms_events')
      .selectAll()
      .where('message_id', 'in', [...messageIds])
      .orderBy('at')
      .orderBy('id')
      .execute();
  }

  /**
   * One more request to Twilio is being made for this message: count it, and
   * show it is being sent. Attempts that start together are counted in one
   * statement (group commit).
   */
  countAttempt(id: string, now: Date): Promise<void> {
    return this.attempts.add({ id, at: now.toISOString() });
  }

  private async countAttempts(items: readonly { id: string; at: string }[]): Promise<void[]> {
    const ids = new Set(items.map((i) => i.id));
    // The same message twice in a batch: one statement each, so both attempts count.
    const groups =
      ids.size < items.length
        ? items.map((i) => ({ ids: [i.id], at: i.at }))
        : [{ ids: [...ids], at: items.reduce((max, i) => (i.at > max ? i.at : max), '') }];
    for (const group of groups) await this.incrementAttempts(group.ids, group.at);
    return items.map(() => undefined);
  }

  private async incrementAttempts(ids: readonly string[], at: string): Promise<void> {
    await this.db
      .updateTable('sms_messages')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        status: eb
          .case()
          .when('status', '=', 'queued')
          .then('sending' as const)
          .else(eb.ref('status'))
          .end(),
        updated_at: at,
      }))
      .where('id', 'in', ids)
      .execute();
  }

  /**
   * Twilio accepted the message: its SID, and at least `sent`. Messages
   * accepted together are recorded in one transaction (group commit).
   */
  markAccepted(id: string, values: Accepted, now: Date): Promise<void> {
    return this.accepted.add({ id, values, at: now.toISOString() });
  }

  private async markAllAccepted(
    items: readonly { id: string; values: Accepted; at: string }[],
  ): Promise<void[]> {
    if (items.length === 1) await this.setAccepted(this.db, items[0]);
    else
      await inTransaction(this.db, async (trx) => {
        for (const item of items) await this.setAccepted(trx, item);
      });
    return items.map(() => undefined);
  }

  private async setAccepted(
    db: Executor,
    { id, values, at }: { id: string; values: Accepted; at: string },
  ): Promise<void> {
    await db
      .updateTable('sms_messages')
      .set((eb) => ({
        provider_id: values.providerId,
        status: values.status,
        from_number: eb.fn.coalesce('from_number', eb.val(values.from)),
        error_code: values.errorCode,
        error_message: values.errorMessage,
        updated_at: at,
      }))
      .where('id', '=', id)
      .where('provider_id', 'is', null)
      .execute();
  }

  /** Never handed to Twilio and never will be: `failed` with a reason. False when it had already moved on. */
  async markFailedUnsent(
    id: string,
    values: { errorCode: string; errorMessage: string; providerError: string | null },
    now: Date,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('sms_messages')
      .set({
        status: 'failed',
        error_code: values.errorCode,
        error_message: values.errorMessage,
        provider_error: values.providerError,
        updated_at: now.toISOString(),
      })
      .where('id', '=', id)
      .where('provider_id', 'is', null)
      .where('status', 'in', statusesBelow('failed'))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Records one status callback (once per stored webhook event). False when it was already recorded. */
  async insertEvent(trx: Executor, row: SmsEventRow): Promise<boolean> {
    const result = await trx
      .insertInto('sms_events')
      .values(row)
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Moves the message forward to `change.status`; does nothing when it is already there or beyond. */
  async advance(trx: Executor, id: string, change: StatusChange): Promise<boolean> {
    const below = statusesBelow(change.status);
    // Nothing ranks below `queued`; and PostgreSQL rejects an empty `IN ()`.
    if (below.length === 0) return false;
    const result = await trx
      .updateTable('sms_messages')
      .set((eb) => ({
        status: change.status,
        ...(change.error
          ? { error_code: change.error.code, error_message: change.error.message }
          : {}),
        from_number: eb.fn.coalesce('from_number', eb.val(change.from)),
        updated_at: change.at,
      }))
      .where('id', '=', id)
      .where('status', 'in', below)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** A Messaging Service's sender, learnt from a callback that does not move the status. */
  /**
   * Binds Twilio's SID to our message `id` when it has none yet: a status
   * callback naming the message arrived before (or instead of) the answer to
   * the request that created it. Returns the message with that SID, if any.
   */
  async bindProviderId(
    trx: Executor,
    id: string,
    providerId: string,
    now: Date,
  ): Promise<SmsMessageRow | undefined> {
    await trx
      .updateTable('sms_messages')
      .set({ provider_id: providerId, updated_at: now.toISOString() })
      .where('id', '=', id)
      .where('provider_id', 'is', null)
      .execute();
    return this.findByProviderId(providerId, trx);
  }

  async fillSender(trx: Executor, id: string, from: string): Promise<void> {
    await trx
      .updateTable('sms_messages')
      .set({ from_number: from })
      .where('id', '=', id)
      .where('from_number', 'is', null)
      .execute();
  }

  async insertInbound(row: SmsInboundRow, trx: Executor = this.db): Promise<boolean> {
    const result = await trx
      .insertInto('sms_inbound_messages')
      .values(row)
      .onConflict((oc) => oc.column('provider_id').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  findInbound(providerId: string): Promise<SmsInboundRow | undefined> {
    return this.db
      .selectFrom('sms_inbound_messages')
      .selectAll()
      .where('provider_id', '=', providerId)
      .executeTakeFirst();
  }
}
