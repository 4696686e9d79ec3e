import type { Kysely } from 'kysely';

/**
 * The runner claims one type's due jobs in `run_at` order, one status at a
 * time (see `JobsRepository.claimDue`). With `type` and `status` as equality
 * prefixes the oldest due rows are the first entries of an index range, so a
 * claim reads `limit` rows however large the backlog or the finished history.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('jobs_claim')
    .on('jobs')
    .columns(['type', 'status', 'run_at', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('jobs_claim').execute();
}
