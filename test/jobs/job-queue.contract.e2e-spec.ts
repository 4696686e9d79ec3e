import { newJobId } from '../../src/jobs/job-id';
import { DEFAULT_JOB_QUEUE_OPTIONS } from '../../src/jobs/job-queue.options';
import {
  JobContext,
  JobQueue,
  PermanentJobError,
  RetryableJobError,
} from '../../src/jobs/job-queue';
import { bearer, KEYS } from '../helpers/app';
import type { TestDatabase } from '../helpers/databases';
import { driverTargets, gate, QueueHarness } from './job-queue.harness';

for (const target of driverTargets()) {
  describe(`${JobQueue.name} contract [${target.driver}, ${target.database.dialect}]`, () => {
    let database: TestDatabase;
    let h: QueueHarness;
    let typeSeq = 0;
    /** A fresh job type per test, so no test sees another's jobs run. */
    const newType = (name: string): string => `t${++typeSeq}.${name}`;

    const api = (method: 'GET' | 'POST', url: string, key = KEYS.admin) =>
      h.app.app.inject({
        method,
        url,
        headers: {
          ...bearer(key),
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'POST' ? { payload: '{}' } : {}),
      });

    beforeAll(async () => {
      database = await target.database.create();
      h = new QueueHarness(target, database.url);
      await h.start();
    });
    afterAll(async () => {
      await h?.close();
      await database?.drop();
    });

    it('runs an enqueued job once with its payload, woken by the enqueue itself', async () => {
      const type = newType('echo');
      const calls: [unknown, JobContext][] = [];
      h.queue.register(type, {
        handler: (payload, ctx) => Promise.resolve(void calls.push([payload, ctx])),
      });

      const id = await h.queue.enqueue(type, { to: '+15005550006', n: 1 });
      expect(id).toMatch(/^job_[0-9a-z]{26}$/);
      // No whenIdle: the runner is woken by the enqueue (the poll interval is a minute here).
      await h.events.waitFor((e) => e.jobId === id && e.kind === 'done');
      await h.queue.whenIdle();
      await h.queue.whenIdle();

      expect(calls).toEqual([
        [
          { to: '+15005550006', n: 1 },
          { jobId: id, attempt: 1, maxAttempts: 3 },
        ],
      ]);
      expect(await h.queue.get(id)).toEqual({
        id,
        type,
        status: 'done',
        attempts: 1,
        lastError: null,
        runAt: h.iso(),
        createdAt: h.iso(),
      });
    });

    it('never runs a job enqueued in a transaction that rolls back, and runs it once the transaction commits', async () => {
      const type = newType('tx');
      const payloads: unknown[] = [];
      h.queue.register(type, {
        handler: (payload) => Promise.resolve(void payloads.push(payload)),
      });

      let rolledBack = '';
      await expect(
        h.db.transaction().execute(async (trx) => {
          rolledBack = await h.queue.enqueue(type, { tx: 'rolled back' }, { trx });
          throw new Error('the caller failed after enqueueing');
        }),
      ).rejects.toThrow('the caller failed');
      const committed = await h.db
        .transaction()
        .execute((trx) => h.queue.enqueue(type, { tx: 'committed' }, { trx }));

      await h.events.waitFor((e) => e.jobId === committed && e.kind === 'done');
      await h.queue.whenIdle();
      expect(payloads).toEqual([{ tx: 'committed' }]);
      expect(await h.queue.get(rolledBack)).toBeUndefined();
    });

    it('retries a failing job with full-jitter exponential backoff, then makes it dead and calls onDead once', async () => {
      const type = newType('flaky');
      const onDead = jest.fn((_payload: unknown, _ctx: JobContext & { error: string }) =>
        Promise.resolve(),
      );
      const attempts: number[] = [];
      h.queue.register(type, {
        handler: (_payload, ctx) => {
          attempts.push(ctx.attempt);
          return Promise.reject(new Error('provider exploded with a secret in the message'));
        },
        onDead,
      });
      const t0 = h.now;
      const id = await h.queue.enqueue(type, { n: 2 });

      await h.queue.whenIdle();
      // random 0.5 → half of the ceiling (base 1000 ms, doubling): 500, then 1000.
      expect(await h.queue.get(id)).toMatchObject({
        status: 'failed',
        attempts: 1,
        runAt: new Date(t0 + 500).toISOString(),
        lastError: 'unexpected Error',
      });

      h.advance(499);
      await h.queue.whenIdle();
      expect(attempts).toEqual([1]);

      h.advance(1);
      await h.queue.whenIdle();
      expect(await h.queue.get(id)).toMatchObject({
        status: 'failed',
        attempts: 2,
        runAt: new Date(t0 + 1500).toISOString(),
      });

      h.world.random = 0;
      h.advance(1000);
      await h.queue.whenIdle();
      expect(attempts).toEqual([1, 2, 3]);
      expect(await h.queue.get(id)).toMatchObject({
        status: 'dead',
        attempts: 3,
        lastError: 'unexpected Error',
      });
      expect(onDead).toHaveBeenCalledTimes(1);
      expect(onDead).toHaveBeenCalledWith(
        { n: 2 },
        { jobId: id, attempt: 3, maxAttempts: 3, error: 'unexpected Error' },
      );
      expect(
        h.events.of(id, 'retrying').map((e) => e.kind === 'retrying' && [e.delayMs, e.runAt]),
      ).toEqual([
        [500, new Date(t0 + 500).toISOString()],
        [1000, new Date(t0 + 1500).toISOString()],
      ]);

      h.advance(60 * 60 * 1000);
      await h.queue.whenIdle();
      expect(attempts).toHaveLength(3);
      expect(onDead).toHaveBeenCalledTimes(1);
      h.world.random = 0.5;
    });

    it('retries at the time RetryableJobError.retryAfterMs names, ignoring the backoff', async () => {
      const type = newType('retry-after');
      const attempts: number[] = [];
      h.queue.register(type, {
        handler: (_payload, ctx) => {
          attempts.push(ctx.attempt);
          return ctx.attempt === 1
            ? Promise.reject(new RetryableJobError('429: slow down', 60_000))
            : Promise.resolve();
        },
      });
      const t0 = h.now;
      const id = await h.queue.enqueue(type, {});

      await h.queue.whenIdle();
      expect(await h.queue.get(id)).toMatchObject({
        status: 'failed',
        attempts: 1,
        lastError: '429: slow down',
        runAt: new Date(t0 + 60_000).toISOString(),
      });

      h.advance(59_999);
      await h.queue.whenIdle();
      expect(attempts).toEqual([1]);

      h.advance(1);
      await h.queue.whenIdle();
      expect(attempts).toEqual([1, 2]);
      expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 2 });
    });

    it('makes a job dead at once on PermanentJobError and calls onDead', async () => {
      const type = newType('permanent');
      const onDead = jest.fn(() => Promise.resolve());
      const handler = jest.fn(() =>
        Promise.reject(new PermanentJobError('21211: invalid To number')),
      );
      h.queue.register(type, { handler, onDead });
      const id = await h.queue.enqueue(type, { to: 'x' });

      await h.queue.whenIdle();
      expect(handler).toHaveBeenCalledTimes(1);
      expect(onDead).toHaveBeenCalledTimes(1);
      expect(onDead).toHaveBeenCalledWith(
        { to: 'x' },
        { jobId: id, attempt: 1, maxAttempts: 3, error: '21211: invalid To number' },
      );
      expect(await h.queue.get(id)).toMatchObject({
        status: 'dead',
        attempts: 1,
        lastError: '21211: invalid To number',
      });
    });

    it('honours maxAttempts given at enqueue', async () => {
      const type = newType('one-shot');
      const onDead = jest.fn(() => Promise.resolve());
      h.queue.register(type, {
        handler: () => Promise.reject(new RetryableJobError('nope')),
        onDead,
      });
      const id = await h.queue.enqueue(type, {}, { maxAttempts: 1 });
      await h.queue.whenIdle();
      expect(await h.queue.get(id)).toMatchObject({ status: 'dead', attempts: 1 });
      expect(onDead).toHaveBeenCalledTimes(1);
    });

    it('leaves a job whose onDead failed to its lease, then gives it up again and calls onDead again', async () => {
      const type = newType('ondead-fails');
      const handler = jest.fn(() => Promise.reject(new RetryableJobError('nope')));
      const onDead = jest
        .fn((_payload: unknown, _ctx: JobContext & { error: string }) => Promise.resolve())
        .mockRejectedValueOnce(new Error('the database blinked'));
      h.queue.register(type, { handler, onDead });
      const id = await h.queue.enqueue(type, {}, { maxAttempts: 1 });

      await h.queue.whenIdle();
      // Not dead: what onDead keeps in step would stay behind for good.
      expect(onDead).toHaveBeenCalledTimes(1);
      expect(await h.queue.get(id)).toMatchObject({ status: 'running', attempts: 1 });

      h.advance(DEFAULT_JOB_QUEUE_OPTIONS.leaseMs + DEFAULT_JOB_QUEUE_OPTIONS.sweepGraceMs);
      await h.queue.whenIdle();
      expect(onDead).toHaveBeenCalledTimes(2);
      expect(onDead).toHaveBeenLastCalledWith(
        {},
        { jobId: id, attempt: 2, maxAttempts: 1, error: 'attempts exhausted' },
      );
      expect(handler).toHaveBeenCalledTimes(1);
      expect(await h.queue.get(id)).toMatchObject({ status: 'dead', attempts: 2 });
    });

    it('never runs more jobs of a type at once than its concurrency', async () => {
      const type = newType('limited');
      let active = 0;
      let maxActive = 0;
      const held: (() => void)[] = [];
      h.queue.register(type, {
        concurrency: 2,
        handler: async () => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          const g = gate();
          held.push(g.open);
          await g.promise;
          active -= 1;
        },
      });
      const ids = await Promise.all([1, 2, 3, 4, 5].map((n) => h.queue.enqueue(type, { n })));
      const started = (count: number) =>
        h.events.waitForCount((e) => e.type === type && e.kind === 'started', count);

      await started(2);
      for (let released = 0; released < 5; released++) {
        await started(Math.min(released + 2, 5));
        expect(active).toBeLessThanOrEqual(2);
        held.shift()?.();
      }
      await h.queue.whenIdle();
      expect(maxActive).toBe(2);
      for (const id of ids) expect((await h.queue.get(id))?.status).toBe('done');
    });

    describe('admin API', () => {
      it('retries a dead job: 202 with attempts reset, and it runs again', async () => {
        const type = newType('revive');
        let fail = true;
        const handler = jest.fn(() =>
          fail ? Promise.reject(new PermanentJobError('down')) : Promise.resolve(),
        );
        h.queue.register(type, { handler });
        const id = await h.queue.enqueue(type, {});
        await h.queue.whenIdle();
        expect((await h.queue.get(id))?.status).toBe('dead');

        fail = false;
        const res = await api('POST', `/jobs/${id}/retry`);
        expect(res.statusCode).toBe(202);
        expect(res.json()).toMatchObject({
          id,
          type,
          status: 'queued',
          attempts: 0,
          runAt: h.iso(),
        });
        await h.events.waitFor((e) => e.jobId === id && e.kind === 'done');
        await h.queue.whenIdle();
        expect(handler).toHaveBeenCalledTimes(2);
        expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 1 });

        const again = await api('POST', `/jobs/${id}/retry`);
        expect(again.statusCode).toBe(409);
        expect(again.json().code).toBe('invalid_state');
      });

      it('answers 404 for an unknown job and 403 without the admin scope', async () => {
        const unknown = await api('POST', '/jobs/job_00000000000000000000000000/retry');
        expect(unknown.statusCode).toBe(404);
        expect(unknown.json().code).toBe('not_found');
        const forbidden = await api('GET', '/jobs', KEYS.sms);
        expect(forbidden.statusCode).toBe(403);
      });

      it('lists jobs newest first, filtered by status, in pages linked by cursors', async () => {
        const type = newType('parked'); // never registered: its jobs stay queued
        const ids: string[] = [];
        for (let i = 0; i < 21; i++) {
          h.advance(1);
          ids.push(await h.queue.enqueue(type, { i }));
        }
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const res = await api(
            'GET',
            `/jobs?status=queued&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
          );
          expect(res.statusCode).toBe(200);
          const body = res.json();
          expect(body.data.length).toBeLessThanOrEqual(7);
          for (const job of body.data) expect(job.status).toBe('queued');
          seen.push(...body.data.map((j: { id: string }) => j.id));
          cursor = body.nextCursor;
          pages += 1;
        } while (cursor && pages < 50);
        expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());
        expect(new Set(seen).size).toBe(seen.length);

        const dead = (await api('GET', '/jobs?status=dead&limit=100')).json();
        expect(dead.data.length).toBeGreaterThan(0);
        expect(dead.data.every((j: { status: string }) => j.status === 'dead')).toBe(true);

        const all = (await api('GET', '/jobs')).json();
        expect(all.data).toHaveLength(20);
        expect(all.data[0]).toEqual({
          id: ids[20],
          type,
          status: 'queued',
          attempts: 0,
          lastError: null,
          runAt: h.iso(),
          createdAt: h.iso(),
        });
      });

      it.each([
        ['limit=0'],
        ['limit=101'],
        ['limit=abc'],
        ['limit=2.5'],
        ['limit=1e1'],
        ['limit=0x10'],
        ['limit=%2010'],
        ['limit=10&limit=20'],
        ['status=bogus'],
        ['cursor=not-a-cursor'],
        ['foo=1'],
      ])('answers 400 validation_failed for ?%s', async (query) => {
        const res = await api('GET', `/jobs?${query}`);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('validation_failed');
      });
    });

    it('reports itself ready', async () => {
      const res = await h.app.app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(200);
      expect(res.json().info.jobs.status).toBe('up');
    });

    it('runs each job once when two instances claim from the same database at the same time', async () => {
      const type = newType('shared');
      const other = h.sibling();
      await other.start();
      try {
        const runs: string[] = [];
        for (const instance of [h, other])
          instance.queue.register(type, {
            concurrency: 8,
            handler: (_p, ctx) => Promise.resolve(void runs.push(ctx.jobId)),
          });
        // Rows written behind both runners' backs, so neither is woken first: both find them at once.
        const ids = Array.from({ length: 40 }, () => newJobId(new Date(h.now)));
        await h.db
          .insertInto('jobs')
          .values(
            ids.map((id) => ({
              id,
              type,
              payload: '{}',
              status: 'queued' as const,
              attempts: 0,
              max_attempts: 3,
              last_error: null,
              run_at: h.iso(),
              locked_until: null,
              created_at: h.iso(),
              updated_at: h.iso(),
            })),
          )
          .execute();

        await Promise.all([h.queue.whenIdle(), other.queue.whenIdle()]);
        await Promise.all([h.queue.whenIdle(), other.queue.whenIdle()]);
        expect([...runs].sort()).toEqual([...ids].sort());
        for (const id of ids)
          expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 1 });
      } finally {
        await other.app.close();
      }
    });

    describe('crashes and restarts', () => {
      it('re-runs a running job whose lease has expired (its process died), not one whose lease holds', async () => {
        const type = newType('orphan');
        const contexts: JobContext[] = [];
        h.queue.register(type, { handler: (_p, ctx) => Promise.resolve(void contexts.push(ctx)) });
        const row = (id: string, lockedUntil: number) => ({
          id,
          type,
          payload: '{"orphan":true}',
          status: 'running' as const,
          attempts: 1,
          max_attempts: 3,
          last_error: null,
          run_at: h.iso(-60_000),
          locked_until: new Date(lockedUntil).toISOString(),
          created_at: h.iso(-60_000),
          updated_at: h.iso(-60_000),
        });
        const expired = newJobId(new Date(h.now - 60_000));
        const held = newJobId(new Date(h.now - 60_000));
        await h.db
          .insertInto('jobs')
          .values([row(expired, h.now - 1), row(held, h.now + 30_000)])
          .execute();

        await h.queue.whenIdle();
        expect(contexts).toEqual([{ jobId: expired, attempt: 2, maxAttempts: 3 }]);
        expect(await h.queue.get(expired)).toMatchObject({ status: 'done', attempts: 2 });
        expect(await h.queue.get(held)).toMatchObject({ status: 'running', attempts: 1 });

        h.advance(30_000);
        await h.queue.whenIdle();
        expect(contexts.map((c) => c.jobId)).toEqual([expired, held]);
        expect(await h.queue.get(held)).toMatchObject({ status: 'done', attempts: 2 });
      });

      it('lets a running handler finish when the app shuts down', async () => {
        const type = newType('graceful');
        const g = gate();
        h.queue.register(type, { handler: () => g.promise });
        const id = await h.queue.enqueue(type, {});
        await h.events.waitFor((e) => e.jobId === id && e.kind === 'started');

        const closing = h.app.close();
        g.open();
        await closing;
        await h.start();
        expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 1 });
      });

      it('answers whenIdle at once when stopped, leaving due jobs for the next runner', async () => {
        const type = newType('stopped');
        const ran: unknown[] = [];
        h.queue.register(type, { handler: (p) => Promise.resolve(void ran.push(p)) });
        await h.queue.stop();
        const id = await h.queue.enqueue(type, { waits: true });

        await h.queue.whenIdle();
        expect(ran).toEqual([]);
        expect(await h.queue.get(id)).toMatchObject({ status: 'queued', attempts: 0 });
        await h.restart();
        h.queue.register(type, { handler: (p) => Promise.resolve(void ran.push(p)) });
        await h.queue.whenIdle();
        expect(ran).toEqual([{ waits: true }]);
      });

      it('runs, after a restart, a job stored while no runner was up (a crash right after the commit)', async () => {
        const type = newType('outbox');
        await h.queue.stop();
        const id = await h.db
          .transaction()
          .execute((trx) => h.queue.enqueue(type, { kept: true }, { trx }));
        await h.restart();

        const payloads: unknown[] = [];
        h.queue.register(type, { handler: (p) => Promise.resolve(void payloads.push(p)) });
        // Not whenIdle (it would find the row itself): the new instance must pick it up on its own.
        await h.events.waitFor((e) => e.jobId === id && e.kind === 'done');
        await h.queue.whenIdle();
        expect(payloads).toEqual([{ kept: true }]);
        expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 1 });
      });

      it('runs, after a restart, a job that was queued for later when the app closed', async () => {
        const type = newType('later');
        const id = await h.queue.enqueue(
          type,
          { later: true },
          { runAt: new Date(h.now + 60 * 60 * 1000) },
        );
        await h.restart();

        const payloads: unknown[] = [];
        h.queue.register(type, { handler: (p) => Promise.resolve(void payloads.push(p)) });
        await h.queue.whenIdle();
        expect(payloads).toEqual([]);

        h.advance(60 * 60 * 1000);
        await h.queue.whenIdle();
        expect(payloads).toEqual([{ later: true }]);
        expect(await h.queue.get(id)).toMatchObject({ status: 'done', attempts: 1 });
      });
    });
  });
}
