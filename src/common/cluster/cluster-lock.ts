import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import { DATABASE_HANDLE } from '../../database/database.module';
import type { DatabaseHandle } from '../../database/database.factory';
import type { Db } from '../../database/database.types';

/** What {@link ClusterLock.runExclusive} did: ran the task, or left it to the instance holding the lock. */
export type ExclusiveRun<T> = { ran: true; value: T } | { ran: false };

/** A stable 64-bit PostgreSQL advisory-lock key for a task name (signed, as `bigint` wants it). */
export function advisoryLockKey(name: string): string {
  const digest = createHash('sha256').update(`switchboard:${name}`).digest();
  return digest.readBigInt64BE(0).toString();
}

/**
 * Runs periodic maintenance on one instance at a time. On PostgreSQL the task
 * runs inside a transaction holding `pg_try_advisory_xact_lock`: an instance
 * that finds the lock taken skips its turn instead of waiting, and the lock
 * goes with the transaction, so a crashed holder never leaves it behind.
 * SQLite is one process by design (CONTRACT §1), so there the task simply
 * runs.
 */
@Injectable()
export class ClusterLock {
  constructor(@Inject(DATABASE_HANDLE) private readonly handle: DatabaseHandle) {}

  /** `task` gets the connection to use: the transaction that holds the lock on PostgreSQL. */
  async runExclusive<T>(name: string, task: (db: Db) => Promise<T>): Promise<ExclusiveRun<T>> {
    if (this.handle.dialect === 'sqlite') return { ran: true, value: await task(this.handle.db) };
    const key = advisoryLockKey(name);
    return this.handle.db.transaction().execute(async (trx): Promise<ExclusiveRun<T>> => {
      const { rows } = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${key}::bigint) as locked`.execute(trx);
      if (rows[0]?.locked !== true) return { ran: false };
      return { ran: true, value: await task(trx) };
    });
  }
}
