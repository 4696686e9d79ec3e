import { WebhookEventsController } from '../../src/webhooks/webhook-events.controller';
import { WebhookInbox } from '../../src/webhooks/webhook-inbox.service';
import { bearer, KEYS } from '../helpers/app';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { testWebhookState } from './test-provider.module';
import { startWebhookTestApp, WebhookTestApp } from './webhook-test-app';

interface ListBody {
  data: {
    id: string;
    provider: string;
    eventId: string;
    type: string;
    status: string;
    receivedAt: string;
  }[];
  nextCursor: string | null;
}

describeEachDialect(WebhookEventsController.name, (target) => {
  let database: TestDatabase;
  let sut: WebhookTestApp;
  /** Our ids of the sendgrid events seeded below, newest first. */
  let sendgridIds: string[];

  const list = async (query: string, key = KEYS.admin) =>
    sut.inject({ method: 'GET', url: `/webhook-events${query}`, headers: bearer(key) });

  beforeAll(async () => {
    database = await target.create();
    sut = await startWebhookTestApp(database);
    const inbox = sut.app.get(WebhookInbox);
    const base = Date.parse('2030-01-01T00:00:00.000Z');
    for (let i = 0; i < 7; i++) {
      await inbox.store('sendgrid', [
        { eventId: `sg_${i}`, type: i % 2 === 0 ? 'delivered' : 'open', payload: { i } },
      ]);
      // Pairs share a received_at, so pages must be ordered by id too.
      await sut.db
        .updateTable('webhook_events')
        .set({ received_at: new Date(base + Math.floor(i / 2) * 1000).toISOString() })
        .where('event_id', '=', `sg_${i}`)
        .execute();
    }
    testWebhookState.failuresLeft = Infinity;
    await sut.deliver({ id: 'ev_ok', type: 'thing.created' });
    await sut.deliver({ id: 'ev_dead', type: 'thing.flaky' });
    await sut.jobs.whenIdle();
    testWebhookState.reset();
    sendgridIds = (await sut.rows('sendgrid')).map((r) => r.id).reverse();
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it('lists events newest first with the contract fields', async () => {
    const res = await list('?provider=test');
    expect(res.statusCode).toBe(200);
    const body = res.json<ListBody>();
    expect(body.nextCursor).toBeNull();
    expect(body.data.map((e) => e.eventId)).toEqual(['ev_dead', 'ev_ok']);
    expect(body.data[0]).toEqual({
      id: expect.stringMatching(/^evt_/),
      provider: 'test',
      eventId: 'ev_dead',
      type: 'thing.flaky',
      status: 'dead',
      attempts: 3,
      lastError: 'unexpected Error',
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      processedAt: null,
    });
    expect(body.data[1]).toMatchObject({
      status: 'processed',
      attempts: 1,
      lastError: null,
      processedAt: expect.any(String),
    });
  });

  it('filters by status and provider', async () => {
    const dead = (await list('?status=dead')).json<ListBody>();
    expect(dead.data.map((e) => e.eventId)).toEqual(['ev_dead']);
    const processed = (await list('?provider=sendgrid&status=processed')).json<ListBody>();
    expect(processed.data.map((e) => e.id)).toEqual(sendgridIds);
    const none = (await list('?provider=twilio')).json<ListBody>();
    expect(none).toEqual({ data: [], nextCursor: null });
  });

  it('defaults to 20 and pages through every event once with an opaque cursor', async () => {
    const all = (await list('')).json<ListBody>();
    expect(all.data).toHaveLength(9);
    expect(all.nextCursor).toBeNull();

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await list(
        `?provider=sendgrid&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      const page = res.json<ListBody>();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(seen).toEqual(sendgridIds);
    expect(pages).toBe(4);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=101', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=1.5', 'limit'],
    ['status=bogus', 'status'],
    ['status=dead&status=failed', 'status'],
    ['provider=nope', 'provider'],
    ['cursor=garbage', 'cursor'],
    ['cursor=', 'cursor'],
    ['page=2', 'page'],
  ])('answers 400 validation_failed for ?%s', async (query, field) => {
    const res = await list(`?${query}`);
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('validation_failed');
    expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  });

  it('shows one event and answers 404 for an unknown id', async () => {
    const [id] = sendgridIds;
    const res = await sut.inject({
      method: 'GET',
      url: `/webhook-events/${id}`,
      headers: bearer(KEYS.admin),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id,
      provider: 'sendgrid',
      eventId: 'sg_6',
      type: 'delivered',
    });
    const missing = await sut.inject({
      method: 'GET',
      url: '/webhook-events/evt_nope',
      headers: bearer(KEYS.admin),
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('not_found');
    const replay = await sut.inject({
      method: 'POST',
      url: '/webhook-events/evt_nope/replay',
      headers: bearer(KEYS.admin),
    });
    expect(replay.statusCode).toBe(404);
  });

  it('needs the admin scope', async () => {
    const [id] = sendgridIds;
    for (const key of [KEYS.payments, KEYS.sms, KEYS.emails]) {
      expect((await list('', key)).statusCode).toBe(403);
      const replay = await sut.inject({
        method: 'POST',
        url: `/webhook-events/${id}/replay`,
        headers: bearer(key),
      });
      expect(replay.statusCode).toBe(403);
      expect(replay.json().code).toBe('forbidden');
    }
    expect((await sut.inject({ method: 'GET', url: '/webhook-events' })).statusCode).toBe(401);
    expect((await list('', KEYS.all)).statusCode).toBe(200);
  });

  it('replays with an Idempotency-Key once', async () => {
    const [id] = sendgridIds;
    const headers = { ...bearer(KEYS.admin), 'idempotency-key': 'replay-once' };
    const first = await sut.inject({
      method: 'POST',
      url: `/webhook-events/${id}/replay`,
      headers,
    });
    const again = await sut.inject({
      method: 'POST',
      url: `/webhook-events/${id}/replay`,
      headers,
    });
    expect([first.statusCode, again.statusCode]).toEqual([202, 202]);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    await sut.jobs.whenIdle();
    const row = await sut.row('sendgrid', 'sg_6');
    expect(row).toMatchObject({ status: 'processed', attempts: 2 });
  });
});
