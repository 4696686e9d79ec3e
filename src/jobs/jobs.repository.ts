import { Inject, Injectable } from '@nestjs/common';
import { Expression, ExpressionBuilder, sql, Transaction } from 'kysely';
import { AppError } from '../common/errors/app-error';
import { decodeCursor, encodeCursor, type Page } from '../common/http/pagination';
import type { DatabaseHandle } from '../database/database.factory';
import { DATABASE_HANDLE } from '../database/database.module';
import { WriteBatcher } from '../database/write-batcher';
import { chunks, INSERT_CHUNK_ROWS } from '../database/chunks';
import type { DatabaseSchema, Db, Dialect, JobsTable } from '../database/database.types';
import type { JobStatus, JobView } from './job-queue';
import { JOB_ID_PATTERN } from './job-id';

export type JobRow = JobsTable;

/** The outcome of claiming one job by id (the BullMQ driver): ours to run, not yet, or nothing to do. */
export type ClaimOneResult =
  { kind: 'claimed'; row: JobRow } | { kind: 'later'; at: Date } | { kind: 'stale' };

export function toJobView(
  row: Pick<JobRow, 'id' | 'type' | 'status' | 'attempts' | 'last_error' | 'run_at' | 'created_at'>,
): JobView {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    runAt: row.run_at,
    createdAt: row.created_at,
  };
}

type Eb = ExpressionBuilder<DatabaseSchema, 'jobs'>;

/**
 * A job may be claimed when it is due, or when it is `running` but its lease
 * has run out: the process running it died (a live one renews its lease).
 * Written with one equality on `status` per branch so each branch is an index
 * range (`status IN (...)` makes SQLite walk every row of those statuses).
 */
/** `ref` may wrap a column (e.g. to keep SQLite from choosing an index for it). */
function claimable(
  eb: Eb,
  nowIso: string,
  ref: (column: 'status' | 'run_at' | 'locked_until') => Expression<string | null> = (c) =>
    eb.ref(c),
) {
  return eb.or([
    eb.and([eb(ref('status'), '=', 'queued'), eb(ref('run_at'), '<=', nowIso)]),
    eb.and([eb(ref('status'), '=', 'failed'), eb(ref('run_at'), '<=', nowIso)]),
    eb.and([eb(ref('status'), '=', 'running'), eb(ref('locked_until'), '<=', nowIso)]),
  ]);
}

function compareDue(x: Pick<JobRow, 'run_at' | 'id'>, y: Pick<JobRow, 'run_at' | 'id'>): number {
  if (x.run_at !== y.run_at) return x.run_at < y.run_at ? -1 : 1;
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

/** An attempt that ended well, waiting to be recorded. */
interface Completion {
  id: string;
  attempt: number;
  updatedAt: string;
}

/** Each way a job becomes claimable: its status, and the column that says since when. */
const CLAIM_BRANCHES = [
  ['queued', 'run_at'],
  ['failed', 'run_at'],
  ['running', 'locked_until'],
] as const;

/**
 * The `jobs` table: the source of truth of both drivers. Every transition out
 * of `running` is fenced by the attempt number the runner claimed, so a runner
 * that lost its lease (a stalled process) cannot overwrite the newer attempt.
 */
@Injectable()
export class JobsRepository {
  private readonly db: Db;
  private readonly dialect: Dialect;
  private readonly completions = new WriteBatcher<Completion, boolean>((items) =>
    this.completeAll(items),
  );

  constructor(@Inject(DATABASE_HANDLE) handle: DatabaseHandle) {
    this.db = handle.db;
    this.dialect = handle.dialect;
  }

  /** One multi-row INSERT per {@link INSERT_CHUNK_ROWS} rows. */
  async insertMany(rows: readonly JobRow[], trx?: Transaction<DatabaseSchema>): Promise<void> {
    for (const chunk of chunks(rows, INSERT_CHUNK_ROWS))
      await (trx ?? this.db).insertInto('jobs').values(chunk).execute();
  }

  async exists(id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('jobs')
      .select('id')
      .where('id', '=', id)
      .executeTakeFirst();
    return row !== undefined;
  }

  findById(id: string): Promise<JobRow | undefined> {
    return this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Claims up to `limit` claimable jobs of `type`, oldest `run_at` first.
   * Each status is its own `LIMIT`ed range of the `jobs_claim` index (type,
   * status, run_at, id), so the cost does not grow with the backlog or the
   * history. PostgreSQL: one statement, skipping rows another instance is
   * claiming (`FOR UPDATE SKIP LOCKED`). SQLite: the three ranges are read
   * one by one (a `UNION` of them costs SQLite more than the three reads) and
   * the chosen rows are updated only if still claimable, so a row taken in
   * between by anyone else is left out rather than claimed twice.
   */
  async claimDue(type: string, limit: number, now: Date, leaseUntil: Date): Promise<JobRow[]> {
    const nowIso = now.toISOString();
    const set = {
      status: 'running' as const,
      locked_until: leaseUntil.toISOString(),
      updated_at: nowIso,
    };
    if (this.dialect === 'postgres') {
      const branches = CLAIM_BRANCHES.map(
        ([status, since], i) =>
          sql`SELECT id, run_at FROM (SELECT id, run_at FROM jobs WHERE type = ${type} AND status = ${status} AND ${sql.ref(since)} <= ${nowIso} ORDER BY run_at, id LIMIT ${limit} FOR UPDATE SKIP LOCKED) AS ${sql.raw(`b${i}`)}`,
      );
      const { rows } =
        await sql<JobRow>`WITH picked AS (SELECT id FROM (${sql.join(branches, sql` UNION ALL `)}) AS due ORDER BY run_at, id LIMIT ${limit}) UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, locked_until = ${set.locked_until}, updated_at = ${nowIso} FROM picked WHERE jobs.id = picked.id RETURNING jobs.*`.execute(
          this.db,
        );
      // RETURNING follows the table, not the subquery: start the oldest first.
      return rows.sort(compareDue);
    }
    const candidates: Pick<JobRow, 'id' | 'run_at'>[] = [];
    for (const [status, since] of CLAIM_BRANCHES) {
      candidates.push(
        ...(await this.db
          .selectFrom('jobs')
          .select(['id', 'run_at'])
          .where('type', '=', type)
          .where('status', '=', status)
          .where(since, '<=', nowIso)
          .orderBy('run_at')
          .orderBy('id')
          .limit(limit)
          .execute()),
      );
    }
    const ids = candidates
      .sort(compareDue)
      .slice(0, limit)
      .map((r) => r.id);
    return this.claimIds(type, ids, now, leaseUntil);
  }

  /**
   * Claims those of `ids` (jobs of `type`) that are claimable now, by primary
   * key, without reading the claim index: for jobs this process has just
   * committed and knows are due. Rows claimed meanwhile by anyone else, or not
   * due, are left out. Oldest first.
   */
  async claimIds(
    type: string,
    ids: readonly string[],
    now: Date,
    leaseUntil: Date,
  ): Promise<JobRow[]> {
    if (ids.length === 0) return [];
    const nowIso = now.toISOString();
    // Without the unary `+`, SQLite prefers the jobs_claim index for `type = ?` (it has no
    // statistics to know better) and walks every queued job of the type: 2–4 ms per claim
    // behind a backlog of 10 000. PostgreSQL has no unary `+` for text, and plans well.
    const ref =
      this.dialect === 'sqlite'
        ? (column: 'type' | 'status' | 'run_at' | 'locked_until') =>
            sql<string>`+${sql.ref(column)}`
        : (column: 'type' | 'status' | 'run_at' | 'locked_until') =>
            sql<string>`${sql.ref(column)}`;
    const rows = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running' as const,
        attempts: eb('attempts', '+', 1),
        locked_until: leaseUntil.toISOString(),
        updated_at: nowIso,
      }))
      .where('id', 'in', [...ids])
      .where(ref('type'), '=', type)
      .where((eb) => claimable(eb, nowIso, ref))
      .returningAll()
      .execute();
    return rows.sort(compareDue);
  }

  /**
   * Claims one job if it is still at `expectedAttempts` (the state the BullMQ
   * message was sent for) and claimable; else says when to look again, or
   * that the message is stale (done, dead, gone, or already run).
   */
  async claimOne(
    id: string,
    expectedAttempts: number,
    now: Date,
    leaseUntil: Date,
  ): Promise<ClaimOneResult> {
    const nowIso = now.toISOString();
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running' as const,
        attempts: eb('attempts', '+', 1),
        locked_until: leaseUntil.toISOString(),
        updated_at: nowIso,
      }))
      .where('id', '=', id)
      .where('attempts', '=', expectedAttempts)
      .where((eb) => claimable(eb, nowIso))
      .returningAll()
      .executeTakeFirst();
    if (row) return { kind: 'claimed', row };
    const current = await this.findById(id);
    if (!current || Number(current.attempts) !== expectedAttempts) return { kind: 'stale' };
    if (current.status === 'queued' || current.status === 'failed')
      return { kind: 'later', at: new Date(current.run_at) };
    if (current.status === 'running' && current.locked_until)
      return { kind: 'later', at: new Date(current.locked_until) };
    return { kind: 'stale' };
  }

  /**
   * Marks the attempt done; false when the row is no longer ours. Completions
   * that end together are written as one statement (group commit), so a busy
   * runner pays one commit per batch instead of one per job.
   */
  complete(id: string, attempt: number, now: Date): Promise<boolean> {
    return this.completions.add({ id, attempt, updatedAt: now.toISOString() });
  }

  private async completeAll(items: readonly Completion[]): Promise<boolean[]> {
    const ids = new Set(items.map((c) => c.id));
    if (items.length === 1 || ids.size < items.length) {
      const out: boolean[] = [];
      for (const c of items)
        out.push(await this.leave(c.id, c.attempt, { status: 'done', updated_at: c.updatedAt }));
      return out;
    }
    // One updated_at for the batch: its items ended within the same turn of the event loop.
    const updatedAt = items.reduce((max, c) => (c.updatedAt > max ? c.updatedAt : max), '');
    const rows = await this.db
      .updateTable('jobs')
      .set({ status: 'done', updated_at: updatedAt, locked_until: null })
      .where('id', 'in', [...ids])
      .where('status', '=', 'running')
      .where((eb) =>
        eb.or(items.map((c) => eb.and([eb('id', '=', c.id), eb('attempts', '=', c.attempt)]))),
      )
      .returning('id')
      .execute();
    const done = new Set(rows.map((r) => r.id));
    return items.map((c) => done.has(c.id));
  }

  async scheduleRetry(
    id: string,
    attempt: number,
    runAt: Date,
    error: string,
    now: Date,
  ): Promise<boolean> {
    return this.leave(id, attempt, {
      status: 'failed',
      run_at: runAt.toISOString(),
      last_error: error,
      updated_at: now.toISOString(),
    });
  }

  async markDead(id: string, attempt: number, error: string, now: Date): Promise<boolean> {
    return this.leave(id, attempt, {
      status: 'dead',
      last_error: error,
      updated_at: now.toISOString(),
    });
  }

  /** Renews the lease of jobs this process is running. */
  async extendLeases(ids: readonly string[], until: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('jobs')
      .set({ locked_until: until.toISOString() })
      .where('id', 'in', [...ids])
      .where('status', '=', 'running')
      .execute();
  }

  /** Queues a dead job again with its attempts reset; undefined when there is no such dead job. */
  resetDead(id: string, now: Date): Promise<JobRow | undefined> {
    const nowIso = now.toISOString();
    return this.db
      .updateTable('jobs')
      .set({
        status: 'queued',
        attempts: 0,
        run_at: nowIso,
        locked_until: null,
        updated_at: nowIso,
      })
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .returningAll()
      .executeTakeFirst();
  }

  /** Claimable rows due at least `graceMs` ago (expired leases at once): what the BullMQ sweeper relays. */
  findRelayable(
    now: Date,
    graceMs: number,
    limit: number,
  ): Promise<Pick<JobRow, 'id' | 'type' | 'attempts' | 'run_at'>[]> {
    const nowIso = now.toISOString();
    const dueBefore = new Date(now.getTime() - graceMs).toISOString();
    return this.db
      .selectFrom('jobs')
      .select(['id', 'type', 'attempts', 'run_at'])
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', dueBefore)]),
          eb.and([eb('status', '=', 'failed'), eb('run_at', '<=', dueBefore)]),
          eb.and([eb('status', '=', 'running'), eb('locked_until', '<=', nowIso)]),
        ]),
      )
      .orderBy('run_at')
      .limit(limit)
      .execute();
  }

  /** How many jobs of these types are claimable now. */
  async countClaimable(types: readonly string[], now: Date): Promise<number> {
    if (types.length === 0) return 0;
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('type', 'in', [...types])
      .where((eb) => claimable(eb, now.toISOString()))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Deletes `done` jobs created before `before`, in batches so no statement holds the table for long. */
  async deleteDoneBefore(before: Date, batch = 5000): Promise<number> {
    let total = 0;
    for (;;) {
      const res = await this.db
        .deleteFrom('jobs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('jobs')
            .select('id')
            .where('status', '=', 'done')
            .where('created_at', '<', before.toISOString())
            .limit(batch),
        )
        .executeTakeFirst();
      const n = Number(res.numDeletedRows);
      total += n;
      if (n < batch) return total;
    }
  }

  /** Newest first; a malformed cursor is a validation failure. */
  async list(filter: {
    status?: JobStatus;
    limit: number;
    cursor?: string;
  }): Promise<Page<JobView>> {
    const position =
      filter.cursor === undefined ? undefined : decodeCursor(filter.cursor, JOB_ID_PATTERN);
    if (filter.cursor !== undefined && !position)
      throw AppError.validation([{ field: 'cursor', message: 'cursor is malformed' }]);
    let query = this.db
      .selectFrom('jobs')
      .select(['id', 'type', 'status', 'attempts', 'last_error', 'run_at', 'created_at'])
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit + 1);
    if (filter.status) query = query.where('status', '=', filter.status);
    if (position) {
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', position.createdAt),
          eb.and([eb('created_at', '=', position.createdAt), eb('id', '<', position.id)]),
        ]),
      );
    }
    const rows = await query.execute();
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    const nextCursor =
      rows.length > filter.limit && last
        ? encodeCursor({ createdAt: last.created_at, id: last.id })
        : null;
    return { data: page.map(toJobView), nextCursor };
  }

  async ping(): Promise<void> {
    await sql`select 1 from jobs limit 1`.execute(this.db);
  }

  private async leave(id: string, attempt: number, values: Partial<JobRow>): Promise<boolean> {
    const res = await this.db
      .updateTable('jobs')
      .set({ ...values, locked_until: null })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where('attempts', '=', attempt)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }
}
