import type { Kysely } from 'kysely';

/**
 * Email (SendGrid): one row per email, one per recipient (to, cc and bcc each
 * get their own delivery status) and one per recorded SendGrid event.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('emails')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('from_email', 'text', (c) => c.notNull())
    .addColumn('reply_to', 'text')
    .addColumn('to_list', 'text', (c) => c.notNull())
    .addColumn('cc_list', 'text')
    .addColumn('bcc_list', 'text')
    .addColumn('subject', 'text')
    .addColumn('text_body', 'text')
    .addColumn('html_body', 'text')
    .addColumn('template_id', 'text')
    .addColumn('template_data', 'text')
    .addColumn('categories', 'text')
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('provider_message_id', 'text')
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // GET /emails pages newest first, with or without a status filter.
  await db.schema
    .createIndex('emails_created')
    .on('emails')
    .columns(['created_at', 'id'])
    .execute();
  await db.schema
    .createIndex('emails_status_created')
    .on('emails')
    .columns(['status', 'created_at', 'id'])
    .execute();
  // Events without our custom arg are matched by the X-Message-Id part of sg_message_id.
  await db.schema
    .createIndex('emails_provider_message')
    .on('emails')
    .column('provider_message_id')
    .execute();

  await db.schema
    .createTable('email_recipients')
    .addColumn('email_id', 'text', (c) => c.notNull().references('emails.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('address_key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('rank', 'integer', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('email_recipients_pk', ['email_id', 'position'])
    .addUniqueConstraint('email_recipients_address', ['email_id', 'address_key'])
    .execute();

  await db.schema
    .createTable('email_events')
    .addColumn('email_id', 'text', (c) => c.notNull().references('emails.id').onDelete('cascade'))
    .addColumn('event_key', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text')
    .addColumn('reason', 'text')
    .addColumn('occurred_at', 'text', (c) => c.notNull())
    .addColumn('arrival', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('email_events_pk', ['email_id', 'event_key'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('email_events').execute();
  await db.schema.dropTable('email_recipients').execute();
  await db.schema.dropTable('emails').execute();
}
