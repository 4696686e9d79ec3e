import { Clock } from '../../src/common/clock';
import { JobEvent, JobQueue } from '../../src/jobs/job-queue';
import { JobQueueDriver } from '../../src/jobs/job-queue.driver';
import { newWebhookEventId } from '../../src/webhooks/webhook-event-id';
import {
  EVENTS_PER_PROCESS_JOB,
  WEBHOOK_PROCESS_JOB,
  WebhookInbox,
} from '../../src/webhooks/webhook-inbox.service';
import { WebhookRetentionService } from '../../src/webhooks/webhook-retention.service';
import { bearer, KEYS } from '../helpers/app';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { signTestWebhook, testWebhookState } from './test-provider.module';
import { queueTargets } from '../helpers/test-mode';
import { startWebhookTestApp, WebhookTestApp } from './webhook-test-app';

/** A promise with its opener, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

let seq = 0;
/** A provider event id no other test uses. */
const nextId = (label: string): string => `${label}_${++seq}`;

describeEachDialect(WebhookInbox.name, (target) => {
  describe.each(queueTargets())('jobs: $driver', ({ env }) => {
    let database: TestDatabase;
    let sut: WebhookTestApp;

    beforeAll(async () => {
      database = await target.create();
      sut = await startWebhookTestApp(database, env);
    });
    afterAll(async () => {
      await sut?.close();
      await database?.drop();
    });
    beforeEach(() => testWebhookState.reset());

    /** Resolves at the next job event of `type` and `kind` (the queue reports every attempt). */
    const nextEvent = (type: string, kind: JobEvent['kind']): Promise<JobEvent> =>
      new Promise((resolve) => {
        const off = sut.app.get(JobQueueDriver).subscribe((event) => {
          if (event.type !== type || event.kind !== kind) return;
          off();
          resolve(event);
        });
      });

    describe('receiving', () => {
      it('stores the event before answering 200, then processes it in the background', async () => {
        let open!: () => void;
        testWebhookState.gate = new Promise<void>((resolve) => (open = resolve));
        const id = nextId('stored');

        const res = await sut.deliver({ id, type: 'thing.flaky', data: { n: 1 } });

        expect(res.statusCode).toBe(200);
        expect(res.json()).toEqual({ received: true, stored: 1, duplicates: 0 });
        const row = await sut.row('test', id);
        expect(row).toMatchObject({
          status: 'received',
          attempts: 0,
          type: 'thing.flaky',
          processed_at: null,
        });
        expect(row?.id).toMatch(/^evt_[0-9a-z]{26}$/);
        expect(JSON.parse(row?.payload ?? '')).toEqual({ id, type: 'thing.flaky', data: { n: 1 } });

        open();
        await sut.jobs.whenIdle();
        expect(await sut.row('test', id)).toMatchObject({
          status: 'processed',
          attempts: 1,
          last_error: null,
        });
        const [call] = testWebhookState.callsOf('flaky', id);
        expect(call.payload).toEqual({ id, type: 'thing.flaky', data: { n: 1 } });
        expect(call.context).toEqual({
          eventRowId: row?.id,
          provider: 'test',
          eventId: id,
          type: 'thing.flaky',
          receivedAt: new Date(row?.received_at ?? ''),
          attempt: 1,
        });
      });

      it('answers 400 invalid_signature and stores nothing when the signature is missing, wrong or malformed', async () => {
        const id = nextId('forged');
        const body = JSON.stringify({ id, type: 'thing.created' });
        const cases: Record<string, string>[] = [
          { 'x-test-signature': '' },
          { 'x-test-signature': signTestWebhook(body, 'another-secret') },
          { 'x-test-signature': signTestWebhook(`${body} `) },
          { 'x-test-signature': 'not-hex-at-all' },
          { 'x-test-signature': signTestWebhook(body).slice(0, 10) },
        ];
        for (const headers of cases) {
          const res = await sut.deliver(body, headers);
          expect(res.statusCode).toBe(400);
          expect(res.json()).toMatchObject({ statusCode: 400, code: 'invalid_signature' });
        }
        const unsigned = await sut.inject({
          method: 'POST',
          url: '/webhooks/test',
          payload: body,
          headers: { 'content-type': 'application/json' },
        });
        expect(unsigned.statusCode).toBe(400);
        expect(unsigned.json()).toMatchObject({
          code: 'invalid_signature',
          message: 'missing X-Test-Signature',
        });
        // A body changed after signing.
        const tampered = await sut.deliver(JSON.stringify({ id, type: 'thing.updated' }), {
          'x-test-signature': signTestWebhook(body),
        });
        expect(tampered.statusCode).toBe(400);

        await sut.jobs.whenIdle();
        expect(await sut.row('test', id)).toBeUndefined();
        expect(testWebhookState.calls).toEqual([]);
      });

      it('needs no API key and ignores one', async () => {
        const res = await sut.deliver(
          { id: nextId('keyless'), type: 'thing.created' },
          bearer(KEYS.payments),
        );
        expect(res.statusCode).toBe(200);
      });

      it('answers a duplicate 200 and processes the event once', async () => {
        const id = nextId('dup');
        const first = await sut.deliver({ id, type: 'thing.created' });
        await sut.jobs.whenIdle();
        const again = await sut.deliver({ id, type: 'thing.created', data: 'changed' });
        const concurrent = await Promise.all(
          Array.from({ length: 5 }, () => sut.deliver({ id, type: 'thing.created' })),
        );
        await sut.jobs.whenIdle();

        expect(first.json()).toEqual({ received: true, stored: 1, duplicates: 0 });
        expect(again.statusCode).toBe(200);
        expect(again.json()).toEqual({ received: true, stored: 0, duplicates: 1 });
        expect(concurrent.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
        expect(testWebhookState.callsOf('thing', id)).toHaveLength(1);
        const rows = (await sut.rows('test')).filter((r) => r.event_id === id);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ status: 'processed', attempts: 1 });
        expect(JSON.parse(rows[0].payload)).not.toHaveProperty('data');
      });

      it('stores each event of a batch once, repeats within the batch included', async () => {
        const [a, b] = [nextId('batch'), nextId('batch')];
        const res = await sut.deliver([
          { id: a, type: 'thing.created' },
          { id: b, type: 'thing.updated' },
          { id: a, type: 'thing.created' },
        ]);
        expect(res.json()).toEqual({ received: true, stored: 2, duplicates: 1 });
        await sut.jobs.whenIdle();
        // Events of a batch are processed concurrently, in no set order.
        expect(
          testWebhookState.callsOf('thing').map((c) => [c.context.eventId, c.context.type]),
        ).toEqual(
          expect.arrayContaining([
            [a, 'thing.created'],
            [b, 'thing.updated'],
          ]),
        );
        expect(testWebhookState.callsOf('thing')).toHaveLength(2);
      });

      it('queues the events stored together in one job each EVENTS_PER_PROCESS_JOB', async () => {
        const events = Array.from({ length: EVENTS_PER_PROCESS_JOB + 3 }, () => ({
          id: nextId('many'),
          type: 'thing.created',
        }));
        const res = await sut.deliver(events);
        expect(res.json()).toEqual({ received: true, stored: events.length, duplicates: 0 });
        await sut.jobs.whenIdle();

        const rowIds = new Map((await sut.rows('test')).map((r) => [r.event_id, r.id]));
        const parts = [
          events.slice(0, EVENTS_PER_PROCESS_JOB),
          events.slice(EVENTS_PER_PROCESS_JOB),
        ];
        const calls = testWebhookState.callsOf('thing').map((c) => c.context.eventId);
        expect(calls.sort()).toEqual(events.map((e) => e.id).sort());
        for (const part of parts) {
          const jobs = await sut.db
            .selectFrom('jobs')
            .select(['payload', 'status'])
            .where('type', '=', WEBHOOK_PROCESS_JOB)
            .where('payload', 'like', `%${rowIds.get(part[0].id)}%`)
            .execute();
          expect(jobs).toHaveLength(1);
          expect(jobs[0].status).toBe('done');
          const ids = part.map((e) => e.id);
          // In the order they arrived.
          expect(JSON.parse(jobs[0].payload)).toEqual({
            eventRowIds: ids.map((id) => rowIds.get(id)),
          });
        }
      });
    });

    describe('dispatching', () => {
      it('calls the exact handlers and the wildcard ones for a type', async () => {
        const id = nextId('dispatch');
        await sut.deliver({ id, type: 'thing.updated' });
        await sut.jobs.whenIdle();
        expect(testWebhookState.calls.map((c) => c.handler)).toEqual(['thing', 'any']);
      });

      it('stores and acknowledges an unknown type, which changes nothing', async () => {
        const id = nextId('unknown');
        const res = await sut.deliver({ id, type: 'thing.never_heard_of' });
        expect(res.statusCode).toBe(200);
        await sut.jobs.whenIdle();
        expect(await sut.row('test', id)).toMatchObject({
          status: 'processed',
          attempts: 1,
          type: 'thing.never_heard_of',
        });
        // Only the wildcard sees it; no handler of a known type ran.
        expect(testWebhookState.calls.map((c) => c.handler)).toEqual(['any']);
      });

      it('marks an event processed when its provider has no handlers at all', async () => {
        const inbox = sut.app.get(WebhookInbox);
        const id = nextId('nohandler');
        expect(
          await inbox.store('stripe', [{ eventId: id, type: 'charge.captured', payload: { id } }]),
        ).toEqual({ stored: 1, duplicates: 0 });
        await sut.jobs.whenIdle();
        expect(await sut.row('stripe', id)).toMatchObject({
          status: 'processed',
          attempts: 1,
          last_error: null,
        });
        expect(testWebhookState.calls).toEqual([]);
      });
    });

    describe('failures', () => {
      it('marks a failing event failed, retries it, and succeeds on a later attempt', async () => {
        const id = nextId('retry');
        testWebhookState.failuresLeft = 1;
        const seen: unknown[] = [];
        testWebhookState.onFlaky = async (ctx) => {
          const row = await sut.row('test', ctx.eventId);
          seen.push({
            attempt: ctx.attempt,
            status: row?.status,
            attempts: row?.attempts,
            lastError: row?.last_error,
          });
        };

        await sut.deliver({ id, type: 'thing.flaky' });
        await sut.jobs.whenIdle();

        expect(seen).toEqual([
          { attempt: 1, status: 'received', attempts: 0, lastError: null },
          { attempt: 2, status: 'failed', attempts: 1, lastError: 'unexpected Error' },
        ]);
        const row = await sut.row('test', id);
        expect(row).toMatchObject({ status: 'processed', attempts: 2, last_error: null });
        expect(row?.processed_at).not.toBeNull();
      });

      it('ends dead after JOB_MAX_ATTEMPTS, without leaking the error message, and replay processes it again', async () => {
        const id = nextId('dead');
        testWebhookState.failuresLeft = Infinity;
        await sut.deliver({ id, type: 'thing.flaky' });
        await sut.jobs.whenIdle();

        const dead = await sut.row('test', id);
        expect(dead).toMatchObject({
          status: 'dead',
          attempts: 3,
          last_error: 'unexpected Error',
          processed_at: null,
        });
        expect(testWebhookState.callsOf('flaky', id)).toHaveLength(3);

        testWebhookState.failuresLeft = 0;
        const res = await sut.inject({
          method: 'POST',
          url: `/webhook-events/${dead?.id}/replay`,
          headers: bearer(KEYS.admin),
        });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toMatchObject({
          id: dead?.id,
          eventId: id,
          status: 'received',
          attempts: 3,
          processedAt: null,
        });
        await sut.jobs.whenIdle();

        expect(await sut.row('test', id)).toMatchObject({
          status: 'processed',
          attempts: 4,
          last_error: null,
        });
        expect(testWebhookState.callsOf('flaky', id)).toHaveLength(4);
      });

      it('keeps an event a replay processed when the attempt it overtook fails afterwards', async () => {
        const id = nextId('overtaken');
        const last = gate();
        const lastStarted = gate();
        let calls = 0;
        testWebhookState.onFlaky = async () => {
          calls += 1;
          if (calls < 3) throw new Error('transient');
          if (calls === 3) {
            // The job's last attempt hangs, so the operator replays the event meanwhile.
            lastStarted.open();
            await last.promise;
            throw new Error('and fails in the end');
          }
        };
        await sut.deliver({ id, type: 'thing.flaky' });
        await lastStarted.promise;
        const row = await sut.row('test', id);
        const replayDone = nextEvent(WEBHOOK_PROCESS_JOB, 'done');

        const res = await sut.inject({
          method: 'POST',
          url: `/webhook-events/${row?.id}/replay`,
          headers: bearer(KEYS.admin),
        });
        expect(res.statusCode).toBe(202);
        await replayDone;
        expect(await sut.row('test', id)).toMatchObject({ status: 'processed' });

        last.open();
        await sut.jobs.whenIdle();
        expect(calls).toBe(4);
        // The failure began before the success: it leaves the event processed, and the dead
        // job's events that were processed are not made dead.
        expect(await sut.row('test', id)).toMatchObject({ status: 'processed', last_error: null });
        const jobs = await sut.db
          .selectFrom('jobs')
          .select(['payload', 'status'])
          .where('type', '=', WEBHOOK_PROCESS_JOB)
          .where('payload', 'like', `%${row?.id}%`)
          .orderBy('created_at')
          .execute();
        expect(jobs.map((j) => [j.status, JSON.parse(j.payload).replay ?? false])).toEqual([
          ['dead', false],
          ['done', true],
        ]);
      });

      it('processes the other events of a job once while a failing one is retried until dead', async () => {
        const [before, bad, after] = [nextId('ok'), nextId('bad'), nextId('ok')];
        testWebhookState.failuresLeft = Infinity;
        await sut.deliver([
          { id: before, type: 'thing.created' },
          { id: bad, type: 'thing.flaky' },
          { id: after, type: 'thing.created' },
        ]);
        await sut.jobs.whenIdle();

        for (const id of [before, after]) {
          expect(await sut.row('test', id)).toMatchObject({ status: 'processed', attempts: 1 });
          expect(testWebhookState.callsOf('thing', id)).toHaveLength(1);
        }
        expect(await sut.row('test', bad)).toMatchObject({
          status: 'dead',
          attempts: 3,
          last_error: 'unexpected Error',
        });
        expect(testWebhookState.callsOf('flaky', bad).map((c) => c.context.attempt)).toEqual([
          1, 2, 3,
        ]);

        // Retrying the dead job runs only the event it had not processed.
        const badRow = await sut.row('test', bad);
        const [job] = await sut.db
          .selectFrom('jobs')
          .select(['id', 'status'])
          .where('type', '=', WEBHOOK_PROCESS_JOB)
          .where('payload', 'like', `%${badRow?.id}%`)
          .execute();
        expect(job.status).toBe('dead');
        testWebhookState.failuresLeft = 0;
        const retried = await sut.inject({
          method: 'POST',
          url: `/jobs/${job.id}/retry`,
          headers: bearer(KEYS.admin),
        });
        expect(retried.statusCode).toBe(202);
        await sut.jobs.whenIdle();
        expect(await sut.row('test', bad)).toMatchObject({ status: 'processed', attempts: 4 });
        for (const id of [before, after])
          expect(testWebhookState.callsOf('thing', id)).toHaveLength(1);
      });

      it('still processes a job queued for a single event by an earlier version', async () => {
        const id = nextId('legacy');
        const rowId = newWebhookEventId(new Date());
        await sut.db
          .insertInto('webhook_events')
          .values({
            id: rowId,
            provider: 'test',
            event_id: id,
            type: 'thing.created',
            payload: JSON.stringify({ id, type: 'thing.created' }),
            status: 'received',
            attempts: 0,
            last_error: null,
            received_at: new Date().toISOString(),
            processed_at: null,
          })
          .execute();
        await sut.app.get(JobQueue).enqueue(WEBHOOK_PROCESS_JOB, { eventRowId: rowId });
        await sut.jobs.whenIdle();

        expect(await sut.row('test', id)).toMatchObject({ status: 'processed', attempts: 1 });
        expect(testWebhookState.callsOf('thing', id)).toHaveLength(1);
      });

      it('replays a processed event', async () => {
        const id = nextId('again');
        await sut.deliver({ id, type: 'thing.created' });
        await sut.jobs.whenIdle();
        const row = await sut.row('test', id);
        const res = await sut.inject({
          method: 'POST',
          url: `/webhook-events/${row?.id}/replay`,
          headers: bearer(KEYS.admin),
        });
        expect(res.statusCode).toBe(202);
        await sut.jobs.whenIdle();
        expect(testWebhookState.callsOf('thing', id)).toHaveLength(2);
        expect(await sut.row('test', id)).toMatchObject({ status: 'processed', attempts: 2 });
      });
    });

    describe(WebhookRetentionService.name, () => {
      it('deletes only processed events older than WEBHOOK_RETENTION_DAYS, by the Clock', async () => {
        const day = 24 * 60 * 60 * 1000;
        const ids = {
          oldProcessed: nextId('old'),
          oldDead: nextId('old'),
          oldReceived: nextId('old'),
          recent: nextId('recent'),
        };
        await sut.deliver({ id: ids.oldProcessed, type: 'thing.created' });
        await sut.deliver({ id: ids.recent, type: 'thing.created' });
        testWebhookState.failuresLeft = Infinity;
        await sut.deliver({ id: ids.oldDead, type: 'thing.flaky' });
        await sut.jobs.whenIdle();
        // Held in its handler, so still `received` while the sweep runs.
        let open!: () => void;
        testWebhookState.failuresLeft = 0;
        testWebhookState.gate = new Promise<void>((resolve) => (open = resolve));
        await sut.deliver({ id: ids.oldReceived, type: 'thing.flaky' });
        // Make three of them 31 days old (the default retention is 30).
        const old = new Date(Date.now() - 31 * day).toISOString();
        await sut.db
          .updateTable('webhook_events')
          .set({ received_at: old })
          .where('provider', '=', 'test')
          .where('event_id', 'in', [ids.oldProcessed, ids.oldDead, ids.oldReceived])
          .execute();
        const retention = sut.app.get(WebhookRetentionService);
        const expected = (await sut.rows()).filter(
          (r) => r.status === 'processed' && r.received_at === old,
        );

        expect(await retention.runOnce()).toBe(expected.length);
        expect(await sut.row('test', ids.oldProcessed)).toBeUndefined();
        expect(await sut.row('test', ids.oldDead)).toMatchObject({ status: 'dead' });
        expect(await sut.row('test', ids.oldReceived)).toMatchObject({ status: 'received' });
        expect(await sut.row('test', ids.recent)).toMatchObject({ status: 'processed' });

        // Thirty days on, the recent one goes too.
        const clock = sut.app.get(Clock);
        const spy = jest.spyOn(clock, 'now').mockReturnValue(new Date(Date.now() + 30 * day));
        try {
          await retention.runOnce();
        } finally {
          spy.mockRestore();
        }
        expect(await sut.row('test', ids.recent)).toBeUndefined();
        expect(await sut.row('test', ids.oldDead)).toMatchObject({ status: 'dead' });
        open();
        await sut.jobs.whenIdle();
      });
    });
  });
});
