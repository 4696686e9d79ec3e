import type { Kysely } from 'kysely';

/**
 * What each payment and refund row was created for: a fingerprint of the
 * parameters sent to Stripe under the row's idempotency key. A client retry
 * under the same key with other parameters is refused (422
 * `idempotency_key_reused`) instead of being answered with the first
 * request's row, or sent to Stripe as another request under a used key. Null
 * for rows made before this migration, and for refunds learnt from webhooks.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('payments').addColumn('request_fingerprint', 'text').execute();
  await db.schema.alterTable('refunds').addColumn('request_fingerprint', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('refunds').dropColumn('request_fingerprint').execute();
  await db.schema.alterTable('payments').dropColumn('request_fingerprint').execute();
}
