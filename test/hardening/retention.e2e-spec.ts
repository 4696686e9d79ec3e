import { sql } from 'kysely';
import { Client } from 'pg';
import { Clock } from '../../src/common/clock';
import { IdempotencyCleanupService } from '../../src/common/idempotency/idempotency-cleanup.service';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { WebhookRetentionService } from '../../src/webhooks/webhook-retention.service';
import { bearer, KEYS, startTestApp, type TestApp } from '../helpers/app';
import {
  createPostgresDatabase,
  describeEachDialect,
  type TestDatabase,
} from '../helpers/databases';
import { ProbeModule, probeState } from '../helpers/probe.module';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** Moves an app's Clock to `base + offset` (offset set per step); nothing sleeps. */
function controlClock(sut: TestApp, base: Date): (offsetMs: number) => void {
  let offset = 0;
  jest.spyOn(sut.app.get(Clock), 'now').mockImplementation(() => new Date(base.getTime() + offset));
  return (offsetMs) => {
    offset = offsetMs;
  };
}

let seq = 0;

/** Stored webhook events as the inbox writes them, received at `at`. */
async function insertEvents(
  db: Db,
  at: Date,
  statuses: ('received' | 'processed' | 'failed' | 'dead')[],
): Promise<string[]> {
  const rows = statuses.map((status) => {
    seq += 1;
    return {
      id: `evt_retention_${seq}`,
      provider: 'test',
      event_id: `retention_${seq}_${Date.now()}`,
      type: 'thing.created',
      payload: '{}',
      status,
      attempts: status === 'received' ? 0 : 1,
      last_error: null,
      received_at: at.toISOString(),
      processed_at: status === 'processed' ? at.toISOString() : null,
    };
  });
  await db.insertInto('webhook_events').values(rows).execute();
  return rows.map((r) => r.id);
}

/** Kept idempotency records, created at `at` (so expiring 24 h later). */
async function insertIdempotencyRecords(db: Db, at: Date, count: number): Promise<void> {
  const rows = Array.from({ length: count }, () => {
    seq += 1;
    return {
      scope: 'retention-test',
      key: `key-${seq}`,
      fingerprint: 'f',
      state: 'done' as const,
      response_status: 201,
      response_body: '{}',
      locked_until: at.toISOString(),
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + DAY).toISOString(),
    };
  });
  await db.insertInto('idempotency_keys').values(rows).execute();
}

/** How many of the given webhook events are still stored. */
async function eventsLeft(db: Db, ids: string[]): Promise<number> {
  const rows = await db.selectFrom('webhook_events').select('id').where('id', 'in', ids).execute();
  return rows.length;
}

/** How many of this suite's idempotency records are still stored. */
async function recordsLeft(db: Db): Promise<number> {
  const rows = await db
    .selectFrom('idempotency_keys')
    .select('key')
    .where('scope', '=', 'retention-test')
    .execute();
  return rows.length;
}

describeEachDialect('Retention', (target) => {
  let database: TestDatabase;
  let sut: TestApp;
  let db: Db;

  beforeAll(async () => {
    database = await target.create();
    sut = await startTestApp({
      env: { DATABASE_URL: database.url, WEBHOOK_RETENTION_DAYS: '7' },
      imports: [ProbeModule],
    });
    db = sut.app.get<Db>(DATABASE);
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });
  afterEach(() => jest.restoreAllMocks());

  it('keeps an idempotent response for 24 h, then cleans the record up and lets the key run again', async () => {
    probeState.reset();
    const setClock = controlClock(sut, new Date());
    const post = () =>
      sut.app.inject({
        method: 'POST',
        url: '/probe/payments',
        payload: JSON.stringify({ amount: 7 }),
        headers: {
          'content-type': 'application/json',
          'idempotency-key': 'retention-24h',
          ...bearer(KEYS.payments),
        },
      });
    const cleanup = sut.app.get(IdempotencyCleanupService);
    const stored = () =>
      db.selectFrom('idempotency_keys').select('key').where('key', '=', 'retention-24h').execute();

    const first = await post();
    expect(first.statusCode).toBe(201);

    setClock(DAY - 1000);
    const replay = await post();
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(first.body);
    expect(await cleanup.runOnce()).toBe(0);
    expect(await stored()).toHaveLength(1);

    setClock(DAY);
    expect(await cleanup.runOnce()).toBe(1);
    expect(await stored()).toHaveLength(0);
    const again = await post();
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json()).toMatchObject({ run: 2 });
  });

  it('deletes processed webhook events once they are WEBHOOK_RETENTION_DAYS old, and only those', async () => {
    const base = new Date();
    const setClock = controlClock(sut, base);
    const [processed, received, failed, dead] = await insertEvents(db, base, [
      'processed',
      'received',
      'failed',
      'dead',
    ]);
    const retention = sut.app.get(WebhookRetentionService);
    const remaining = async () =>
      (
        await db
          .selectFrom('webhook_events')
          .select('id')
          .where('id', 'in', [processed, received, failed, dead])
          .execute()
      )
        .map((r) => r.id)
        .sort();

    setClock(7 * DAY - 1000);
    expect(await retention.runOnce()).toBe(0);
    expect(await remaining()).toEqual([processed, received, failed, dead].sort());

    setClock(7 * DAY + 1000);
    expect(await retention.runOnce()).toBe(1);
    expect(await remaining()).toEqual([received, failed, dead].sort());
  });
});

const postgresUrl = process.env.TEST_DATABASE_URL;
const describeWithPostgres = postgresUrl ? describe : describe.skip;
if (!postgresUrl)
  process.stdout.write('Two-instance retention suite skipped: TEST_DATABASE_URL is not set\n');

/**
 * Two instances on one PostgreSQL database run the same cleanup at the same
 * moment: one does it, the other skips its turn. The overlap is made certain,
 * not hoped for: a test transaction locks one of the rows to delete, so the
 * first instance's sweep holds its lock while it waits on that row.
 */
describeWithPostgres('Retention on two instances', () => {
  let database: TestDatabase;
  let apps: TestApp[];
  let db: Db;
  let observer: Client;

  beforeAll(async () => {
    database = await createPostgresDatabase(postgresUrl ?? '');
    apps = [];
    for (let i = 0; i < 2; i++)
      apps.push(
        await startTestApp({
          env: { DATABASE_URL: database.url, WEBHOOK_RETENTION_DAYS: '7' },
        }),
      );
    db = apps[0].app.get<Db>(DATABASE);
    observer = new Client({ connectionString: database.url });
    await observer.connect();
  }, 30_000);
  afterAll(async () => {
    await observer?.end();
    for (const app of apps ?? []) await app.close();
    await database?.drop();
  }, 30_000);
  afterEach(() => jest.restoreAllMocks());

  /** Bounded polling of the server's lock table until an advisory lock is held in this database. */
  async function advisoryLockHeld(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await observer.query<{ n: number }>(
        `select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
          where l.locktype = 'advisory' and l.granted and d.datname = current_database()`,
      );
      if (rows[0].n > 0) return;
      if (Date.now() > deadline) throw new Error('no instance took the lock');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Holds a row lock on one row of `table` that the cleanup must delete, until the returned function is called. */
  async function holdRow(
    table: 'webhook_events' | 'idempotency_keys',
    where: string,
  ): Promise<() => Promise<void>> {
    await observer.query('begin');
    await observer.query(`select 1 from ${table} where ${where} limit 1 for update`);
    return async () => {
      await observer.query('rollback');
    };
  }

  it.each([
    {
      name: WebhookRetentionService.name,
      table: 'webhook_events' as const,
      where: "status = 'processed'",
      /** Stores three processed events received at `at`; returns how to count what is left of them. */
      seed: async (at: Date) => {
        const ids = await insertEvents(db, at, ['processed', 'processed', 'processed']);
        return () => eventsLeft(db, ids);
      },
      sweepAfterMs: 8 * DAY,
      run: (app: TestApp) => app.app.get(WebhookRetentionService).runOnce(),
    },
    {
      name: IdempotencyCleanupService.name,
      table: 'idempotency_keys' as const,
      where: "scope = 'retention-test'",
      seed: async (at: Date) => {
        await insertIdempotencyRecords(db, at, 3);
        return () => recordsLeft(db);
      },
      sweepAfterMs: DAY + 1000,
      run: (app: TestApp) => app.app.get(IdempotencyCleanupService).runOnce(),
    },
  ])('$name: one instance sweeps, the other skips its turn', async (c) => {
    const base = new Date();
    const left = await c.seed(base);
    for (const app of apps) controlClock(app, base)(c.sweepAfterMs);
    expect(await left()).toBe(3);

    const release = await holdRow(c.table, c.where);
    const first = c.run(apps[0]);
    let firstDone = false;
    void first.finally(() => (firstDone = true));
    await advisoryLockHeld();

    // While the first instance's sweep holds the lock, the second skips rather than waits.
    expect(await c.run(apps[1])).toBeNull();
    expect(firstDone).toBe(false);
    expect(await left()).toBe(3);

    await release();
    expect(await first).toBe(3);
    expect(await left()).toBe(0);

    // The lock went with the first sweep's transaction: the second instance's next turn runs.
    expect(await c.run(apps[1])).toBe(0);
    const locks = await sql<{ n: number }>`
      select count(*)::int as n from pg_locks where locktype = 'advisory'`.execute(db);
    expect(locks.rows[0].n).toBe(0);
  });
});
