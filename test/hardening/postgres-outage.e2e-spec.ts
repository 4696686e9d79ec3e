import { sql } from 'kysely';
import { toAppError } from '../../src/common/errors/to-app-error';
import { unavailableService } from '../../src/common/errors/unavailable';
import { openDatabase, type DatabaseHandle } from '../../src/database/database.factory';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { KEYS, startTestApp, type TestApp } from '../helpers/app';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases';
import { ProbeModule, probeState } from '../helpers/probe.module';
import { boundedFetch, type JsonAnswer } from '../helpers/bounded-fetch';
import { TcpProxy } from '../helpers/tcp-proxy';

const postgresUrl = process.env.TEST_DATABASE_URL;
if (!postgresUrl)
  process.stdout.write('PostgreSQL outage suite skipped: TEST_DATABASE_URL is not set\n');
const describeWithPostgres = postgresUrl ? describe : describe.skip;

/**
 * PostgreSQL restarted under a running instance (a TCP relay in front of the
 * shared test server drops every connection and refuses new ones, then
 * listens again): requests answer 503 meanwhile, idle pool clients that lost
 * their connection do not bring the process down, and the pool serves again
 * once the server is back, without a restart.
 */
describeWithPostgres('PostgreSQL restart', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let sut: TestApp;
  let base: string;

  beforeAll(async () => {
    database = await createPostgresDatabase(postgresUrl ?? '');
    proxy = await TcpProxy.inFrontOf(database.url, 5432);
    sut = await startTestApp({
      env: { DATABASE_URL: proxy.rewrite(database.url) },
      imports: [ProbeModule],
      listen: true,
    });
    base = sut.url ?? '';
  }, 30_000);
  afterAll(async () => {
    await proxy?.restore();
    await sut?.close();
    await proxy?.close();
    await database?.drop();
  }, 30_000);

  const call = (
    method: 'GET' | 'POST',
    path: string,
    opts: Parameters<typeof boundedFetch>[3] = {},
  ): Promise<JsonAnswer> => boundedFetch(base, method, path, opts);

  /** An idempotent create: the key is claimed in (and the response kept by) the database. */
  const create = (key: string, amount: number): Promise<JsonAnswer> =>
    call('POST', '/probe/payments', {
      key: KEYS.payments,
      body: { amount },
      headers: { 'idempotency-key': key },
    });

  it('answers 503 while the server is down and serves from a recovered pool once it is back', async () => {
    probeState.reset();
    const first = await create('pg-restart-1', 10);
    expect(first.status).toBe(201);
    // More requests than one connection, so the pool holds several idle clients when the server goes.
    const warm = await Promise.all(
      Array.from({ length: 8 }, () => call('GET', '/jobs?limit=1', { key: KEYS.admin })),
    );
    expect(warm.map((r) => r.status)).toEqual(Array.from({ length: 8 }, () => 200));
    expect(proxy.connections).toBeGreaterThan(1);
    // And one client checked out of the pool, mid-transaction, when the server goes: its
    // connection error must fail the transaction, not the process.
    let inTransaction!: () => void;
    const transactionStarted = new Promise<void>((resolve) => (inTransaction = resolve));
    let cutDone!: () => void;
    const serverGone = new Promise<void>((resolve) => (cutDone = resolve));
    const inFlightOutcome = sut.app
      .get<Db>(DATABASE)
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        inTransaction();
        await serverGone;
        await sql`select 1`.execute(trx);
      })
      .then(
        () => 'committed',
        (err: unknown) => String((err as { message?: unknown }).message),
      );
    await transactionStarted;

    await proxy.cut();
    cutDone();
    expect(await inFlightOutcome).toMatch(/Connection terminated|not queryable/);

    const ready = await call('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      status: 'error',
      error: {
        database: { status: 'down', message: expect.stringMatching(/^(unavailable|timed out)$/) },
      },
    });
    // Public: the driver's text (addresses, user names) stays in the log.
    expect(JSON.stringify(ready.body)).not.toMatch(/ECONN|127\.0\.0\.1|terminated|postgres/i);
    const refused = await create('pg-restart-2', 20);
    expect(refused).toMatchObject({
      status: 503,
      body: {
        statusCode: 503,
        code: 'provider_unavailable',
        message: 'the service is temporarily unavailable; try again shortly',
      },
    });
    const listing = await call('GET', '/jobs', { key: KEYS.admin });
    expect(listing.status).toBe(503);
    expect(listing.body.code).toBe('provider_unavailable');
    expect(JSON.stringify([refused.body, listing.body])).not.toMatch(/ECONN|postgres|terminated/i);

    await proxy.restore();
    // Bounded polling: the pool connects again on the next query.
    const deadline = Date.now() + 15_000;
    while ((await call('GET', '/health/ready')).status !== 200) {
      if (Date.now() > deadline) throw new Error('not ready after the server came back');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    // Every pool slot works again: none of the clients that lost their connection is handed out.
    const after = await Promise.all(
      Array.from({ length: 12 }, () => call('GET', '/jobs?limit=1', { key: KEYS.admin })),
    );
    expect(after.map((r) => r.status)).toEqual(Array.from({ length: 12 }, () => 200));
    // What was stored before the restart is still there, and the refused request can be retried.
    const replay = await create('pg-restart-1', 10);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    const retried = await create('pg-restart-2', 20);
    expect(retried.status).toBe(201);
    expect(retried.body).toMatchObject({ amount: 20, run: 2 });
  }, 60_000);
});

/**
 * A server that takes the connection but never answers (hung, or a network
 * that drops every packet after the handshake), and a pool with every client
 * busy: a query fails after the pool's connect timeout with an error that
 * reads as the database being unavailable (a 503), instead of hanging.
 */
describeWithPostgres('PostgreSQL unresponsive or saturated', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  const handles: DatabaseHandle[] = [];

  beforeAll(async () => {
    database = await createPostgresDatabase(postgresUrl ?? '');
    proxy = await TcpProxy.inFrontOf(database.url, 5432);
  }, 30_000);
  afterAll(async () => {
    proxy?.resume();
    for (const handle of handles) await handle.db.destroy();
    await proxy?.close();
    await database?.drop();
  }, 30_000);

  const open = (poolSize: number): Db => {
    const handle = openDatabase(proxy.rewrite(database.url), { poolSize, connectTimeoutMs: 300 });
    handles.push(handle);
    return handle.db;
  };
  const failureOf = (query: Promise<unknown>): Promise<unknown> =>
    query.then(
      () => new Error('the query succeeded'),
      (err: unknown) => err,
    );

  it('fails a query that cannot get a connection from a silent server, and connects once it answers', async () => {
    const db = open(2);
    proxy.stall();
    const err = await failureOf(sql`select 1`.execute(db));
    expect(unavailableService(err)).toBe('database');
    expect(toAppError(err)).toMatchObject({ status: 503, code: 'provider_unavailable' });

    proxy.resume();
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
    expect(rows).toEqual([{ one: 1 }]);
  }, 20_000);

  it('fails a query that waits longer than the timeout for a busy pool', async () => {
    const db = open(1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inTransaction = new Promise<void>((resolve) => (started = resolve));
    const holder = db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      started();
      await held;
    });
    await inTransaction;

    const err = await failureOf(sql`select 2`.execute(db));
    expect(unavailableService(err)).toBe('database');
    release();
    await holder;
    const { rows } = await sql<{ two: number }>`select 2 as two`.execute(db);
    expect(rows).toEqual([{ two: 2 }]);
  }, 20_000);
});
