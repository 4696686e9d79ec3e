import type { DatabaseHandle } from '../../src/database/database.factory';
import { migrateToLatest, openDatabase } from '../../src/database/database.factory';
import { IDEMPOTENCY_LOCK_MS } from '../../src/common/idempotency/idempotency.interceptor';
import { IdempotencyRepository } from '../../src/common/idempotency/idempotency.repository';
import { describeEachDialect, TestDatabase } from '../helpers/databases';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

/**
 * A request that outlives its lock is taken over by a retry; what the first
 * one writes back afterwards must not overwrite or delete the retry's claim.
 */
describeEachDialect('IdempotencyRepository claims', (target) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let repo: IdempotencyRepository;

  const row = (key: string) =>
    handle.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', 'ops')
      .where('key', '=', key)
      .executeTakeFirst();
  const claim = async (key: string, atMs: number): Promise<string> => {
    const result = await repo.claim('ops', key, 'fp', new Date(atMs), IDEMPOTENCY_LOCK_MS);
    if (result.kind !== 'claimed') throw new Error(`expected a claim, got ${result.kind}`);
    return result.token;
  };

  beforeAll(async () => {
    database = await target.create();
    handle = openDatabase(database.url);
    await migrateToLatest(handle.db);
    repo = new IdempotencyRepository(handle.db);
  });
  afterAll(async () => {
    await handle?.db.destroy();
    await database?.drop();
  });

  it('keeps a retry that took over the key from the late outcome of the first request', async () => {
    const first = await claim('slow-1', T0);
    expect(
      await repo.claim('ops', 'slow-1', 'fp', new Date(T0 + 1000), IDEMPOTENCY_LOCK_MS),
    ).toEqual({ kind: 'running' });
    const retry = await claim('slow-1', T0 + IDEMPOTENCY_LOCK_MS + 1);
    expect(retry).not.toBe(first);

    // The first request ends after all: neither its response nor its release touch the retry's claim.
    expect(await repo.complete('ops', 'slow-1', first, 201, '{"first":true}')).toBe(false);
    await repo.release('ops', 'slow-1', first);
    expect(await row('slow-1')).toMatchObject({ state: 'running', locked_until: retry });

    expect(await repo.complete('ops', 'slow-1', retry, 201, '{"retry":true}')).toBe(true);
    expect(await row('slow-1')).toMatchObject({
      state: 'done',
      response_status: 201,
      response_body: '{"retry":true}',
    });
  });

  it('releases its own claim, so a retry runs again', async () => {
    const token = await claim('failed-1', T0);
    await repo.release('ops', 'failed-1', token);
    expect(await row('failed-1')).toBeUndefined();
    await claim('failed-1', T0 + 1);
  });
});
