import SqliteDatabase from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type MigrationProvider,
  type SqliteDatabase as KyselySqliteDatabase,
} from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type * as Pg from 'pg';
import type { DatabaseSchema, Db, Dialect } from './database.types';
import { MIGRATIONS } from './migrations';

let pg: typeof Pg | undefined;

/** node-postgres, loaded on first use: an embedded (SQLite) instance never needs it. */
function loadPg(): typeof Pg {
  if (!pg) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy, and openDatabase is synchronous
    pg = require('pg') as typeof Pg;
    // COUNT(*) and BIGINT come back from pg as strings; our counts fit in a JS number.
    pg.types.setTypeParser(20, (v) => Number(v));
  }
  return pg;
}

export interface DatabaseHandle {
  db: Db;
  dialect: Dialect;
  /** A description safe to log: the dialect and the file or host, never a password. */
  describe: string;
}

/** A description of `DATABASE_URL` safe to log: the dialect and the file or host, never a password. */
export function describeDatabase(url: string): string {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return path === ':memory:' ? 'sqlite (in memory)' : `sqlite (${path})`;
  }
  const parsed = new URL(url);
  return `postgres (${parsed.hostname}:${parsed.port || 5432}${parsed.pathname})`;
}

/**
 * How long a query waits for a PostgreSQL connection (a new one, or a free one
 * of a busy pool) before failing, so an unreachable server or a saturated pool
 * answers 503 in seconds instead of hanging until the OS gives up on the TCP
 * handshake (about two minutes).
 */
export const PG_CONNECT_TIMEOUT_MS = 5000;

export interface OpenDatabaseOptions {
  /** PostgreSQL pool size (default 10). */
  poolSize?: number;
  /** Overrides {@link PG_CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
}

/** Opens the database `DATABASE_URL` names: better-sqlite3 for `sqlite:`, a pg pool for `postgres://`. */
export function openDatabase(url: string, opts: OpenDatabaseOptions = {}): DatabaseHandle {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    const memory = path === ':memory:';
    if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
    const sqlite = new SqliteDatabase(memory ? ':memory:' : path);
    if (!memory) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // FULL: each commit is on disk before it returns, so a 2xx survives a power cut or an OS
    // crash, not just a crash of this process (NORMAL's promise in WAL mode). Commits are
    // grouped per turn of the event loop, so the sync costs ≈ 0.2 ms per batch here.
    sqlite.pragma('synchronous = FULL');
    return {
      db: new Kysely<DatabaseSchema>({
        dialect: new SqliteDialect({ database: withStatementCache(sqlite) }),
      }),
      dialect: 'sqlite',
      describe: describeDatabase(url),
    };
  }
  const { Pool } = loadPg();
  const pool = new Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_CONNECT_TIMEOUT_MS,
    // A connection whose server vanished without a word (a partition, a host gone) is
    // found dead by TCP keep-alive probes (from 10 s of silence, then the OS's interval
    // and count: minutes, not the two hours before the first probe by default) and
    // discarded, instead of being waited on forever.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that kills the process.
  pool.on('error', () => undefined);
  // A checked-out one (mid-query when the server restarts) emits it on itself, where the pool no longer
  // listens; its query is rejected anyway, and the pool discards the client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return {
    db: new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) }),
    dialect: 'postgres',
    describe: describeDatabase(url),
  };
}

/** Prepared statements kept per connection; our queries are a few dozen distinct texts. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew; better-sqlite3 statements can be reused,
 * and preparing costs about as much as running a small query. Statements are
 * kept by SQL text, least recently used dropped first. Safe because Kysely
 * runs one query at a time on the single connection (a statement is never
 * reused while another use of it is still iterating).
 */
function withStatementCache(sqlite: SqliteDatabase.Database): KyselySqliteDatabase {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare: (text: string) => {
      let statement = cache.get(text);
      if (statement) {
        cache.delete(text);
      } else {
        statement = sqlite.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(MIGRATIONS) };

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `migration ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when the error is a unique-constraint violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}
