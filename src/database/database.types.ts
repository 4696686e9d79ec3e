import type { Kysely } from 'kysely';

/**
 * Every table, as both dialects store it: times are ISO 8601 UTC strings
 * (sortable, identical on SQLite and PostgreSQL), JSON is text.
 */
export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  fingerprint: string;
  state: 'running' | 'done';
  response_status: number | null;
  response_body: string | null;
  locked_until: string;
  created_at: string;
  expires_at: string;
}

export interface JobsTable {
  id: string;
  type: string;
  payload: string;
  status: 'queued' | 'running' | 'failed' | 'dead' | 'done';
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  run_at: string;
  locked_until: string | null;
  created_at: string;
  updated_at: string;
}

export interface WebhookEventsTable {
  id: string;
  provider: string;
  event_id: string;
  type: string;
  payload: string;
  status: 'received' | 'processed' | 'failed' | 'dead';
  attempts: number;
  last_error: string | null;
  received_at: string;
  processed_at: string | null;
}

export interface DatabaseSchema {
  idempotency_keys: IdempotencyKeysTable;
  jobs: JobsTable;
  webhook_events: WebhookEventsTable;
  // Provider modules add their tables here, with a migration of their own.
}

export type Db = Kysely<DatabaseSchema>;
export type Dialect = 'sqlite' | 'postgres';
