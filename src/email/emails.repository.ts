import { Injectable } from '@nestjs/common';
import type { Selectable, Transaction } from 'kysely';
import { InjectDb } from '../database/database.module';
import type { DatabaseSchema, Db } from '../database/database.types';
import type { CursorPosition } from '../common/http/pagination';
import {
  deriveEmailStatus,
  recipientRank,
  type EmailStatus,
  type RecipientStatus,
} from './email-status';
import type { EmailEventsTable, EmailRecipientsTable, EmailsTable } from './email.tables';
import { newestFirstPage } from '../database/newest-first';

export type EmailRow = Selectable<EmailsTable>;
export type EmailRecipientRow = Selectable<EmailRecipientsTable>;
export type EmailEventRow = Selectable<EmailEventsTable>;

type Executor = Db | Transaction<DatabaseSchema>;

/** Rows per multi-row INSERT: far below both dialects' bound-parameter limits. */
const INSERT_CHUNK = 200;

export interface EmailsFilter {
  status?: EmailStatus;
  limit: number;
  after?: CursorPosition;
}

/** One SendGrid event as it is recorded against an email. */
export interface RecordedEvent {
  key: string;
  type: string;
  /** The recipient's address as SendGrid wrote it, if any. */
  recipient: string | null;
  reason: string | null;
  occurredAt: string;
  /** Our webhook event id: sorts by arrival. */
  arrival: string;
  /** The recipient status the event moves towards (delivery events only). */
  status?: RecipientStatus;
}

export type EventOutcome = 'unknown_email' | 'duplicate' | 'recorded';

/**
 * The email tables. Every change to an email's recipients happens in a
 * transaction that first touches the email row, which serialises the writers
 * of one email on PostgreSQL (the row lock) as on SQLite (one connection), so
 * the status derived from the recipients is never computed from a stale read.
 */
@Injectable()
export class EmailsRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  async insert(
    trx: Executor,
    email: EmailRow,
    recipients: readonly EmailRecipientRow[],
  ): Promise<void> {
    await trx.insertInto('emails').values(email).execute();
    for (let i = 0; i < recipients.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('email_recipients')
        .values(recipients.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  }

  findById(id: string): Promise<EmailRow | undefined> {
    return this.db.selectFrom('emails').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The email whose `X-Message-Id` is the first of `candidates` that one has, if any. */
  async findIdByProviderMessageId(candidates: readonly string[]): Promise<string | undefined> {
    if (candidates.length === 0) return undefined;
    const rows = await this.db
      .selectFrom('emails')
      .select(['id', 'provider_message_id'])
      .where('provider_message_id', 'in', candidates)
      .execute();
    for (const candidate of candidates) {
      const row = rows.find((r) => r.provider_message_id === candidate);
      if (row) return row.id;
    }
    return undefined;
  }

  /** Newest first; one row more than `limit`, so the caller knows whether a next page exists. */
  list(filter: EmailsFilter): Promise<EmailRow[]> {
    let query = this.db.selectFrom('emails').selectAll();
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    return newestFirstPage(query, filter.after, filter.limit).execute();
  }

  async recipientsOf(ids: readonly string[]): Promise<EmailRecipientRow[]> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom('email_recipients')
      .selectAll()
      .where('email_id', 'in', ids)
      .orderBy('email_id')
      .orderBy('position')
      .execute();
  }

  async eventsOf(ids: readonly string[]): Promise<EmailEventRow[]> {
    if (ids.length === 0) return [];
    return this.db
      .selectFrom('email_events')
      .selectAll()
      .where('email_id', 'in', ids)
      .orderBy('email_id')
      .orderBy('occurred_at')
      .orderBy('arrival')
      .orderBy('event_key')
      .execute();
  }

  /** SendGrid accepted the email: its recipients become `sent` unless an event already moved them further. */
  markSent(
    id: string,
    providerMessageId: string | null,
    requests: number,
    now: Date,
  ): Promise<void> {
    const at = now.toISOString();
    return this.db.transaction().execute(async (trx) => {
      const locked = await trx
        .updateTable('emails')
        .set((eb) => ({
          provider_message_id: providerMessageId,
          attempts: eb('attempts', '+', requests),
          error_code: null,
          error_message: null,
          updated_at: at,
        }))
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(locked.numUpdatedRows) === 0) return;
      await trx
        .updateTable('email_recipients')
        .set({ status: 'sent', rank: recipientRank('sent'), updated_at: at })
        .where('email_id', '=', id)
        .where('rank', '<', recipientRank('sent'))
        .execute();
      await this.updateStatus(trx, id);
    });
  }

  /** Counts requests of a failed call; the email stays as it is. */
  async addAttempts(id: string, requests: number, now: Date): Promise<void> {
    if (requests <= 0) return;
    await this.db
      .updateTable('emails')
      .set((eb) => ({ attempts: eb('attempts', '+', requests), updated_at: now.toISOString() }))
      .where('id', '=', id)
      .execute();
  }

  /** The email could not be handed to SendGrid: only from the statuses in `from`, never once SendGrid has it. */
  async markFailed(
    id: string,
    failure: {
      errorCode: string;
      errorMessage: string;
      requests: number;
      from: readonly ('queued' | 'failed')[];
      now: Date;
    },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('emails')
      .set((eb) => ({
        status: 'failed',
        error_code: failure.errorCode,
        error_message: failure.errorMessage,
        attempts: eb('attempts', '+', failure.requests),
        updated_at: failure.now.toISOString(),
      }))
      .where('id', '=', id)
      .where('status', 'in', failure.from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Records one SendGrid event (once per event key) and moves the recipient
   * it names forward, never back; engagement events only add to the record.
   * Any event proves SendGrid has the message, so recipients still `queued`
   * (the send's outcome not yet recorded, or a timeout SendGrid had in fact
   * accepted) become `sent`.
   */
  applyEvent(emailId: string, event: RecordedEvent, now: Date): Promise<EventOutcome> {
    const at = now.toISOString();
    return this.db.transaction().execute(async (trx) => {
      const locked = await trx
        .updateTable('emails')
        .set({ updated_at: at })
        .where('id', '=', emailId)
        .returning('status')
        .executeTakeFirst();
      if (!locked) return 'unknown_email';
      const inserted = await trx
        .insertInto('email_events')
        .values({
          email_id: emailId,
          event_key: event.key,
          type: event.type,
          recipient: event.recipient,
          reason: event.reason,
          occurred_at: event.occurredAt,
          arrival: event.arrival,
        })
        .onConflict((oc) => oc.columns(['email_id', 'event_key']).doNothing())
        .executeTakeFirst();
      const isNew = Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;

      const promoted = await trx
        .updateTable('email_recipients')
        .set({ status: 'sent', rank: recipientRank('sent'), updated_at: at })
        .where('email_id', '=', emailId)
        .where('rank', '<', recipientRank('sent'))
        .executeTakeFirst();
      let changed = Number(promoted.numUpdatedRows);
      // A repeat (a replay, or a retry after a crash) applies the status again: the update is idempotent.
      if (event.status !== undefined && event.recipient !== null) {
        const rank = recipientRank(event.status);
        const moved = await trx
          .updateTable('email_recipients')
          .set({ status: event.status, rank, reason: event.reason, updated_at: at })
          .where('email_id', '=', emailId)
          .where('address_key', '=', event.recipient.toLowerCase())
          .where('rank', '<', rank)
          .executeTakeFirst();
        changed += Number(moved.numUpdatedRows);
      }
      if (changed > 0) await this.updateStatus(trx, emailId);
      return isNew ? 'recorded' : 'duplicate';
    });
  }

  /** Derives the email's status again, after SendGrid has it: an earlier failure no longer stands. */
  private async updateStatus(trx: Executor, id: string): Promise<void> {
    // The distinct statuses decide the email's status: no need to read every recipient.
    const rows = await trx
      .selectFrom('email_recipients')
      .select('status')
      .distinct()
      .where('email_id', '=', id)
      .execute();
    const status = deriveEmailStatus(
      rows.map((r) => r.status),
      false,
    );
    await trx
      .updateTable('emails')
      .set({ status, error_code: null, error_message: null })
      .where('id', '=', id)
      .execute();
  }
}
