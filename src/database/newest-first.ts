import { sql, type SelectQueryBuilder } from 'kysely';
import type { CursorPosition } from '../common/http/pagination';

/**
 * One page of a list, newest first by `created_at` then `id`, starting after
 * `after`; one row more than `limit` so the caller knows whether a next page
 * exists. The table must have `created_at` and `id` columns.
 */
export function newestFirstPage<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  after: CursorPosition | undefined,
  limit: number,
): SelectQueryBuilder<DB, TB, O> {
  const page = after
    ? query.where(
        sql<boolean>`(created_at < ${after.createdAt} or (created_at = ${after.createdAt} and id < ${after.id}))`,
      )
    : query;
  return page
    .orderBy(sql`created_at desc`)
    .orderBy(sql`id desc`)
    .limit(limit + 1);
}
