import type { Kysely } from 'kysely';

/**
 * Payments and refunds (CONTRACT "Payments"). A row is inserted before Stripe
 * is called, under the idempotency key Stripe gets, so a retry reuses it and a
 * webhook that overtakes the response finds it; it stays hidden until
 * `provider_id` is known.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('payments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.unique())
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('amount', 'integer', (c) => c.notNull())
    .addColumn('amount_refunded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('customer', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('last_error_code', 'text')
    .addColumn('last_error_message', 'text')
    // Unix seconds (Stripe's clock) of the newest Stripe state applied; older events are ignored.
    .addColumn('status_as_of', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('payments_created')
    .on('payments')
    .columns(['created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('payments_status_created')
    .on('payments')
    .columns(['status', 'created_at', 'id'])
    .execute();

  await db.schema
    .createTable('refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('payment_id', 'text', (c) => c.notNull().references('payments.id'))
    .addColumn('provider_id', 'text', (c) => c.unique())
    // Null for refunds made outside Switchboard (e.g. in the Dashboard) and learnt from webhooks.
    .addColumn('idempotency_key', 'text', (c) => c.unique())
    .addColumn('amount', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('refunds_payment')
    .on('refunds')
    .columns(['payment_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('refunds').execute();
  await db.schema.dropTable('payments').execute();
}
