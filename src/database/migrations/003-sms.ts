import type { Kysely } from 'kysely';

/** Outbound messages, their status callbacks, and inbound messages (src/sms/sms.tables.ts). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sms_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('to_number', 'text', (c) => c.notNull())
    .addColumn('from_number', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.unique())
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('provider_error', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // GET /sms pages newest first, with or without a status filter.
  await db.schema
    .createIndex('sms_messages_created')
    .on('sms_messages')
    .columns(['created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('sms_messages_status_created')
    .on('sms_messages')
    .columns(['status', 'created_at', 'id'])
    .execute();

  await db.schema
    .createTable('sms_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) =>
      c.notNull().references('sms_messages.id').onDelete('cascade'),
    )
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error_code', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sms_events_message')
    .on('sms_events')
    .columns(['message_id', 'at', 'id'])
    .execute();

  await db.schema
    .createTable('sms_inbound_messages')
    .addColumn('provider_id', 'text', (c) => c.primaryKey())
    .addColumn('from_number', 'text', (c) => c.notNull())
    .addColumn('to_number', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('messaging_service_sid', 'text')
    .addColumn('num_media', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('media', 'text', (c) => c.notNull())
    .addColumn('webhook_event_id', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sms_inbound_messages_received')
    .on('sms_inbound_messages')
    .columns(['received_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sms_inbound_messages').execute();
  await db.schema.dropTable('sms_events').execute();
  await db.schema.dropTable('sms_messages').execute();
}
