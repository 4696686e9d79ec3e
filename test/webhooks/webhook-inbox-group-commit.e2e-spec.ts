import { WebhookEventsRepository } from '../../src/webhooks/webhook-events.repository';
import { WebhookInbox } from '../../src/webhooks/webhook-inbox.service';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { testWebhookState } from './test-provider.module';
import { startWebhookTestApp, WebhookTestApp } from './webhook-test-app';

/** `store` calls that overlap are written together; each still gets its own answer. */
describeEachDialect(`${WebhookInbox.name} group commit`, (target) => {
  let database: TestDatabase;
  let sut: WebhookTestApp;
  let inbox: WebhookInbox;

  beforeAll(async () => {
    database = await target.create();
    sut = await startWebhookTestApp(database);
    inbox = sut.app.get(WebhookInbox);
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });
  beforeEach(() => testWebhookState.reset());

  const event = (eventId: string, n = 0) => ({
    eventId,
    type: 'thing.created',
    payload: { id: eventId, type: 'thing.created', data: { n } },
  });

  it('answers each of many overlapping calls with its own counts, stores each event once and processes it once', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `group_${i}`);
    // Every event twice across the calls, and one call carrying a repeat within itself.
    const calls = [
      ...ids.map((id) => inbox.store('test', [event(id)])),
      ...ids.map((id) => inbox.store('test', [event(id, 1)])),
      inbox.store('test', [event('group_pair'), event('group_pair', 1)]),
    ];
    const results = await Promise.all(calls);

    const first = results.slice(0, ids.length);
    const second = results.slice(ids.length, 2 * ids.length);
    // Calls are written in the order they were made, so each first copy wins.
    expect(first.every((r) => r.stored === 1 && r.duplicates === 0)).toBe(true);
    expect(second.every((r) => r.stored === 0 && r.duplicates === 1)).toBe(true);
    expect(results[2 * ids.length]).toEqual({ stored: 1, duplicates: 1 });

    const rows = (await sut.rows('test')).filter((r) => r.event_id.startsWith('group_'));
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids, 'group_pair'].sort());
    for (const row of rows) expect(JSON.parse(row.payload)).toMatchObject({ data: { n: 0 } });

    await sut.jobs.whenIdle();
    const handled = testWebhookState.callsOf('thing').map((c) => c.context.eventId);
    expect(handled.sort()).toEqual([...ids, 'group_pair'].sort());
    // Marked processed in batches, each event counted once.
    for (const row of (await sut.rows('test')).filter((r) => r.event_id.startsWith('group_'))) {
      expect(row).toMatchObject({ status: 'processed', attempts: 1, last_error: null });
      expect(row.processed_at).toEqual(expect.any(String));
    }
  });

  it('counts every processing of an event marked twice in the same batch', async () => {
    await inbox.store('test', [event('group_twice')]);
    await sut.jobs.whenIdle();
    const [row] = (await sut.rows('test')).filter((r) => r.event_id === 'group_twice');
    const repo = sut.app.get(WebhookEventsRepository);
    const at = new Date();

    await Promise.all([repo.markProcessed(row.id, at), repo.markProcessed(row.id, at)]);

    expect(await repo.findById(row.id)).toMatchObject({ status: 'processed', attempts: 3 });
  });

  it('fails only the call whose events cannot be stored; the calls written with it are kept', async () => {
    const circular: Record<string, unknown> = { id: 'group_bad' };
    circular.self = circular;
    const calls = [
      inbox.store('test', [event('group_ok_1')]),
      inbox.store('test', [{ eventId: 'group_bad', type: 'thing.created', payload: circular }]),
      inbox.store('test', [event('group_ok_2')]),
      inbox.store('test', [event('group_ok_3')]),
    ];
    const settled = await Promise.allSettled(calls);

    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(await sut.row('test', 'group_bad')).toBeUndefined();
    for (const id of ['group_ok_1', 'group_ok_2', 'group_ok_3'])
      expect(await sut.row('test', id)).toMatchObject({ status: expect.any(String) });
    await sut.jobs.whenIdle();
    expect(
      testWebhookState
        .callsOf('thing')
        .map((c) => c.context.eventId)
        .sort(),
    ).toEqual(['group_ok_1', 'group_ok_2', 'group_ok_3']);
  });
});
