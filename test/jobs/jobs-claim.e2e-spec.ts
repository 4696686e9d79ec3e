import type { DatabaseHandle } from '../../src/database/database.factory';
import { migrateToLatest, openDatabase } from '../../src/database/database.factory';
import type { JobsTable } from '../../src/database/database.types';
import { afterCommit, inTransaction } from '../../src/database/transaction';
import { JobsRepository } from '../../src/jobs/jobs.repository';
import { describeEachDialect, TestDatabase } from '../helpers/databases';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();

describeEachDialect('JobsRepository.claimDue and inTransaction', (target) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let repo: JobsRepository;
  let seq = 0;

  const job = (type: string, values: Partial<JobsTable>): JobsTable => ({
    id: `job_${String(++seq).padStart(6, '0')}`,
    type,
    payload: '{}',
    status: 'queued',
    attempts: 0,
    max_attempts: 5,
    last_error: null,
    run_at: at(0),
    locked_until: null,
    created_at: at(0),
    updated_at: at(0),
    ...values,
  });

  const insert = async (rows: JobsTable[]): Promise<void> => {
    for (let i = 0; i < rows.length; i += 500)
      await handle.db
        .insertInto('jobs')
        .values(rows.slice(i, i + 500))
        .execute();
  };

  beforeAll(async () => {
    database = await target.create();
    handle = openDatabase(database.url);
    await migrateToLatest(handle.db);
    repo = new JobsRepository(handle);
  });
  afterAll(async () => {
    await handle?.db.destroy();
    await database?.drop();
  });

  it('claims due jobs of every claimable kind oldest first, up to the limit, and nothing else', async () => {
    const now = new Date(T0 + 100_000);
    const rows = [
      job('claim.mix', { status: 'queued', run_at: at(30) }),
      job('claim.mix', { status: 'failed', run_at: at(10), attempts: 2 }),
      job('claim.mix', { status: 'running', run_at: at(20), locked_until: at(50), attempts: 1 }),
      job('claim.mix', { status: 'queued', run_at: at(40) }),
      // Not claimable: due later, a lease that holds, finished, given up, another type.
      job('claim.mix', { status: 'queued', run_at: at(500) }),
      job('claim.mix', { status: 'failed', run_at: at(500), attempts: 1 }),
      job('claim.mix', { status: 'running', run_at: at(1), locked_until: at(500), attempts: 1 }),
      job('claim.mix', { status: 'done', run_at: at(1) }),
      job('claim.mix', { status: 'dead', run_at: at(1) }),
      job('claim.other', { status: 'queued', run_at: at(1) }),
    ];
    await insert(rows);
    const lease = new Date(now.getTime() + 60_000);

    const first = await repo.claimDue('claim.mix', 3, now, lease);
    expect(first.map((r) => r.id)).toEqual([rows[1].id, rows[2].id, rows[0].id]);
    for (const row of first) {
      expect(row.status).toBe('running');
      expect(row.locked_until).toBe(lease.toISOString());
    }
    expect(first.map((r) => Number(r.attempts))).toEqual([3, 2, 1]);

    const second = await repo.claimDue('claim.mix', 3, now, lease);
    expect(second.map((r) => r.id)).toEqual([rows[3].id]);
    expect(await repo.claimDue('claim.mix', 3, now, lease)).toEqual([]);
    expect(await repo.countClaimable(['claim.mix'], now)).toBe(0);
    expect(await repo.countClaimable(['claim.other'], now)).toBe(1);
  });

  it('claims named jobs by id only when they are of the type and claimable, oldest first', async () => {
    const now = new Date(T0 + 100_000);
    const rows = [
      job('claim.ids', { status: 'queued', run_at: at(30) }),
      job('claim.ids', { status: 'failed', run_at: at(10), attempts: 1 }),
      job('claim.ids', { status: 'running', run_at: at(5), locked_until: at(50), attempts: 1 }),
      // Named too, but not claimable: due later, a lease that holds, finished, another type.
      job('claim.ids', { status: 'queued', run_at: at(500) }),
      job('claim.ids', { status: 'running', run_at: at(1), locked_until: at(500), attempts: 1 }),
      job('claim.ids', { status: 'done', run_at: at(1) }),
      job('claim.other-ids', { status: 'queued', run_at: at(1) }),
      // Claimable, but not named.
      job('claim.ids', { status: 'queued', run_at: at(1) }),
    ];
    await insert(rows);
    const lease = new Date(now.getTime() + 60_000);
    const named = rows.slice(0, 7).map((r) => r.id);

    const claimed = await repo.claimIds('claim.ids', named, now, lease);
    expect(claimed.map((r) => r.id)).toEqual([rows[2].id, rows[1].id, rows[0].id]);
    expect(claimed.map((r) => Number(r.attempts))).toEqual([2, 2, 1]);
    for (const row of claimed) {
      expect(row.status).toBe('running');
      expect(row.locked_until).toBe(lease.toISOString());
    }
    // Claimed once: a second claim of the same ids finds them leased.
    expect(await repo.claimIds('claim.ids', named, now, lease)).toEqual([]);
    // The unnamed one is still there for a claim that reads the index.
    expect((await repo.claimDue('claim.ids', 10, now, lease)).map((r) => r.id)).toEqual([
      rows[7].id,
    ]);
  });

  it('finds the few due jobs among thousands of finished ones and a backlog due later', async () => {
    const now = new Date(T0 + 100_000);
    const history = Array.from({ length: 3000 }, (_, i) =>
      job('claim.history', { status: i % 2 ? 'done' : 'dead', run_at: at(i % 90) }),
    );
    const later = Array.from({ length: 1000 }, () =>
      job('claim.history', { status: 'queued', run_at: at(1000) }),
    );
    const due = [
      job('claim.history', { status: 'queued', run_at: at(99) }),
      job('claim.history', { status: 'queued', run_at: at(98) }),
    ];
    await insert([...history, ...later, ...due]);

    const claimed = await repo.claimDue('claim.history', 10, now, new Date(T0 + 200_000));
    expect(claimed.map((r) => r.id)).toEqual([due[1].id, due[0].id]);
  });

  it('runs after-commit hooks in order once the transaction commits, and drops them on rollback', async () => {
    const seen: string[] = [];
    const visible = (id: string) =>
      handle.db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst();
    const committed = job('claim.hooks', {});
    await inTransaction(handle.db, async (trx) => {
      await trx.insertInto('jobs').values(committed).execute();
      expect(afterCommit(trx, () => seen.push('first'))).toBe(true);
      afterCommit(trx, () => seen.push('second'));
      expect(seen).toEqual([]);
    });
    expect(seen).toEqual(['first', 'second']);
    expect(await visible(committed.id)).toBeDefined();

    // A hook that throws does not turn a committed transaction into a failure, nor stop the next hook.
    await expect(
      inTransaction(handle.db, (trx) => {
        afterCommit(trx, () => {
          throw new Error('hook failed');
        });
        afterCommit(trx, () => seen.push('after the failed one'));
        return Promise.resolve('committed');
      }),
    ).resolves.toBe('committed');
    expect(seen).toEqual(['first', 'second', 'after the failed one']);

    const rolledBack = job('claim.hooks', {});
    await expect(
      inTransaction(handle.db, async (trx) => {
        await trx.insertInto('jobs').values(rolledBack).execute();
        afterCommit(trx, () => seen.push('rolled back'));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(seen).toEqual(['first', 'second', 'after the failed one']);
    expect(await visible(rolledBack.id)).toBeUndefined();

    // A transaction opened some other way has no hooks: the caller must find the commit itself.
    await handle.db
      .transaction()
      .execute((trx) => Promise.resolve(expect(afterCommit(trx, () => undefined)).toBe(false)));
  });

  it('records completions that end together in one statement, each fenced by its own attempt', async () => {
    const now = new Date(T0 + 200_000);
    const lease = new Date(now.getTime() + 60_000);
    const rows = Array.from({ length: 5 }, () => job('claim.complete', { status: 'queued' }));
    await insert(rows);
    const claimed = await repo.claimDue('claim.complete', 5, now, lease);
    expect(claimed).toHaveLength(5);
    // The fourth lost its lease meanwhile: another runner claimed it again (attempt 2).
    await handle.db
      .updateTable('jobs')
      .set({ attempts: 2 })
      .where('id', '=', claimed[3].id)
      .execute();
    const statements: string[] = [];
    const logged = new JobsRepository({
      ...handle,
      db: handle.db.withPlugin({
        transformQuery: (args) => {
          if (args.node.kind === 'UpdateQueryNode') statements.push(args.queryId.queryId);
          return args.node;
        },
        transformResult: (args) => Promise.resolve(args.result),
      }),
    });
    const done = new Date(now.getTime() + 1_000);

    const results = await Promise.all(claimed.map((row) => logged.complete(row.id, 1, done)));

    expect(results).toEqual([true, true, true, false, true]);
    expect(statements).toHaveLength(1);
    const after = await handle.db
      .selectFrom('jobs')
      .select(['id', 'status', 'locked_until', 'updated_at'])
      .where(
        'id',
        'in',
        claimed.map((r) => r.id),
      )
      .orderBy('id')
      .execute();
    expect(after.map((r) => r.status)).toEqual(['done', 'done', 'done', 'running', 'done']);
    for (const row of after.filter((r) => r.status === 'done')) {
      expect(row.locked_until).toBeNull();
      expect(row.updated_at).toBe(done.toISOString());
    }
    // Completed already: a late second report of the same attempt is refused.
    expect(await repo.complete(claimed[0].id, 1, done)).toBe(false);
  });
});
