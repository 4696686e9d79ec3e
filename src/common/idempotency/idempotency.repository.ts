import { Injectable } from '@nestjs/common';
import type { Db, IdempotencyKeysTable } from '../../database/database.types';
import { InjectDb } from '../../database/database.module';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * `claimed`: this request runs; `token` (its lock's end) fences what it
 * writes back, so a request whose lock ran out and was taken over by a retry
 * cannot overwrite or delete the retry's claim.
 */
export type ClaimResult =
  | { kind: 'claimed'; token: string }
  | { kind: 'running' }
  | { kind: 'done'; row: IdempotencyKeysTable };

/**
 * Idempotency records. The primary key (scope, key) is what makes concurrent
 * requests with one key run the handler once, on every instance: exactly one
 * insert wins, whatever the dialect.
 */
@Injectable()
export class IdempotencyRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  async claim(
    scope: string,
    key: string,
    fingerprint: string,
    now: Date,
    lockMs: number,
  ): Promise<ClaimResult> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const iso = now.toISOString();
      const token = new Date(now.getTime() + lockMs).toISOString();
      const inserted = await this.db
        .insertInto('idempotency_keys')
        .values({
          scope,
          key,
          fingerprint,
          state: 'running',
          response_status: null,
          response_body: null,
          locked_until: token,
          created_at: iso,
          expires_at: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
        })
        .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { kind: 'claimed', token };

      const row = await this.db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('scope', '=', scope)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) continue; // removed between our insert and select: try again
      if (row.expires_at <= iso) {
        await this.db
          .deleteFrom('idempotency_keys')
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('expires_at', '=', row.expires_at)
          .execute();
        continue;
      }
      if (row.state === 'done') return { kind: 'done', row };
      if (row.locked_until > iso) return { kind: 'running' };
      // The first request's process died mid-way (or it is far too slow): take the key over,
      // once. Its lock ended before now, so our token, later than now, differs from its.
      const taken = await this.db
        .updateTable('idempotency_keys')
        .set({ fingerprint, locked_until: token })
        .where('scope', '=', scope)
        .where('key', '=', key)
        .where('state', '=', 'running')
        .where('locked_until', '=', row.locked_until)
        .executeTakeFirst();
      return Number(taken.numUpdatedRows) === 1 ? { kind: 'claimed', token } : { kind: 'running' };
    }
    return { kind: 'running' };
  }

  /**
   * Keeps the response of the claim `token`; false when that claim is gone
   * (its lock ran out and a retry took the key over: the retry's outcome wins).
   */
  async complete(
    scope: string,
    key: string,
    token: string,
    status: number,
    body: string,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('idempotency_keys')
      .set({ state: 'done', response_status: status, response_body: body })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('state', '=', 'running')
      .where('locked_until', '=', token)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Forgets the claim `token` when its outcome is not kept (validation, 5xx…), so a retry runs again. */
  async release(scope: string, key: string, token: string): Promise<void> {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('scope', '=', scope)
      .where('key', '=', key)
      .where('state', '=', 'running')
      .where('locked_until', '=', token)
      .execute();
  }

  /** `db`: the connection to run on, e.g. the transaction holding the cleanup's cluster lock. */
  async deleteExpired(now: Date, db: Db = this.db): Promise<number> {
    const res = await db
      .deleteFrom('idempotency_keys')
      .where('expires_at', '<=', now.toISOString())
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
