import { Injectable } from '@nestjs/common';
import type { Selectable, Transaction } from 'kysely';
import { InjectDb } from '../database/database.module';
import { chunks, INSERT_CHUNK_ROWS } from '../database/chunks';
import { WriteBatcher } from '../database/write-batcher';
import type { DatabaseSchema, Db, WebhookEventsTable } from '../database/database.types';

export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type WebhookEventStatus = WebhookEventsTable['status'];
export const WEBHOOK_EVENT_STATUSES: readonly WebhookEventStatus[] = [
  'received',
  'processed',
  'failed',
  'dead',
];

/** Where a page starts: strictly after this (received_at, id), newest first. */
export interface WebhookEventsPosition {
  receivedAt: string;
  id: string;
}

export interface WebhookEventsFilter {
  provider?: string;
  status?: WebhookEventStatus;
  limit: number;
  after?: WebhookEventsPosition;
}

type Executor = Db | Transaction<DatabaseSchema>;

/** The `webhook_events` table; the unique (provider, event_id) is what dedupes redeliveries. */
@Injectable()
export class WebhookEventsRepository {
  private readonly processed = new WriteBatcher<{ id: string; processedAt: string }, void>(
    (marks) => this.markAllProcessed(marks),
  );

  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Inserts each row whose (provider, event_id) is not stored yet, a statement
   * per {@link INSERT_CHUNK_ROWS} rows; returns the ids of the rows inserted
   * (a repeat within `rows` is inserted once, the first time).
   */
  async insertManyIfNew(trx: Executor, rows: readonly WebhookEventRow[]): Promise<Set<string>> {
    const inserted = new Set<string>();
    for (const chunk of chunks(rows, INSERT_CHUNK_ROWS)) {
      const returned = await trx
        .insertInto('webhook_events')
        .values(chunk)
        .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
        .returning('id')
        .execute();
      for (const row of returned) inserted.add(row.id);
    }
    return inserted;
  }

  findById(id: string, trx: Executor = this.db): Promise<WebhookEventRow | undefined> {
    return trx.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The rows of `ids` that exist, by id. */
  async findByIds(ids: readonly string[]): Promise<Map<string, WebhookEventRow>> {
    const found = new Map<string, WebhookEventRow>();
    for (const chunk of chunks(ids, INSERT_CHUNK_ROWS)) {
      const rows = await this.db
        .selectFrom('webhook_events')
        .selectAll()
        .where('id', 'in', chunk)
        .execute();
      for (const row of rows) found.set(row.id, row);
    }
    return found;
  }

  /** Newest first; one row more than `limit`, so the caller knows whether a next page exists. */
  list(filter: WebhookEventsFilter): Promise<WebhookEventRow[]> {
    let query = this.db.selectFrom('webhook_events').selectAll();
    if (filter.provider !== undefined) query = query.where('provider', '=', filter.provider);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const after = filter.after;
    if (after) {
      query = query.where((eb) =>
        eb.or([
          eb('received_at', '<', after.receivedAt),
          eb.and([eb('received_at', '=', after.receivedAt), eb('id', '<', after.id)]),
        ]),
      );
    }
    return query
      .orderBy('received_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit + 1)
      .execute();
  }

  /**
   * Events processed together are marked in one statement (group commit):
   * one commit per batch instead of one per event.
   */
  markProcessed(id: string, now: Date): Promise<void> {
    return this.processed.add({ id, processedAt: now.toISOString() });
  }

  private async markAllProcessed(
    marks: readonly { id: string; processedAt: string }[],
  ): Promise<void[]> {
    const ids = new Set(marks.map((m) => m.id));
    // The same event twice (a replay ending with the run it was asked during): one statement
    // each, so attempts counts both.
    if (ids.size < marks.length) {
      for (const m of marks) await this.setProcessed([m.id], m.processedAt);
    } else {
      // One processed_at for the batch: its events finished within the same turn of the event loop.
      const latest = marks.reduce((max, m) => (m.processedAt > max ? m.processedAt : max), '');
      await this.setProcessed([...ids], latest);
    }
    return marks.map(() => undefined);
  }

  private async setProcessed(ids: readonly string[], processedAt: string): Promise<void> {
    await this.db
      .updateTable('webhook_events')
      .set((eb) => ({
        status: 'processed',
        attempts: eb('attempts', '+', 1),
        last_error: null,
        processed_at: processedAt,
      }))
      .where('id', 'in', ids)
      .execute();
  }

  /**
   * Records a failed attempt that started at `startedAt`, unless the event was
   * processed since: by a replay that ran beside it, or by the run that took
   * over its job when this one's lease ran out. A success is newer news than a
   * failure that began before it, and would otherwise be undone for good.
   */
  async markFailed(id: string, error: string, startedAt: Date): Promise<void> {
    await this.db
      .updateTable('webhook_events')
      .set((eb) => ({ status: 'failed', attempts: eb('attempts', '+', 1), last_error: error }))
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('status', '<>', 'processed'),
          eb('processed_at', 'is', null),
          eb('processed_at', '<', startedAt.toISOString()),
        ]),
      )
      .execute();
  }

  /**
   * The queue gave up on the events' job: those not processed are dead, their
   * error kept only when no attempt left one. Returns the ids marked dead.
   */
  async markDead(ids: readonly string[], error: string): Promise<string[]> {
    const dead: string[] = [];
    for (const chunk of chunks(ids, INSERT_CHUNK_ROWS)) {
      const rows = await this.db
        .updateTable('webhook_events')
        .set((eb) => ({ status: 'dead', last_error: eb.fn.coalesce('last_error', eb.val(error)) }))
        .where('id', 'in', chunk)
        .where('status', '<>', 'processed')
        .returning('id')
        .execute();
      for (const row of rows) dead.push(row.id);
    }
    return dead;
  }

  /**
   * Back to `received` for a replay; attempts keep counting and the last error
   * stays until the next outcome.
   */
  async resetForReplay(trx: Executor, id: string): Promise<WebhookEventRow | undefined> {
    await trx
      .updateTable('webhook_events')
      .set({ status: 'received', processed_at: null })
      .where('id', '=', id)
      .execute();
    return this.findById(id, trx);
  }

  /** `db`: the connection to run on, e.g. the transaction holding the retention's cluster lock. */
  async deleteProcessedReceivedBefore(cutoff: Date, db: Db = this.db): Promise<number> {
    const result = await db
      .deleteFrom('webhook_events')
      .where('status', '=', 'processed')
      .where('received_at', '<', cutoff.toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
