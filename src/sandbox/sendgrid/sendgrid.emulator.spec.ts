import { generateKeyPairSync } from 'node:crypto';
import { EventWebhook } from '@sendgrid/eventwebhook';
import type { EmulatorContext, EmulatorRequest, OutgoingWebhook } from '../core/types';
import {
  EVENT_WEBHOOK_SIGNATURE_HEADER,
  EVENT_WEBHOOK_TIMESTAMP_HEADER,
  generateEventWebhookKey,
  publicKeyBase64,
} from './sendgrid-event-webhook.signer';
import {
  SENDGRID_BLOCKED_RECIPIENT,
  SENDGRID_BOUNCE_RECIPIENT,
  SENDGRID_DEFERRED_RECIPIENT,
  SENDGRID_DROPPED_RECIPIENT,
  UNAUTHORIZED_MESSAGE,
  createSendgridEmulator,
  recipientOutcome,
  type SendgridEvent,
} from './sendgrid.emulator';

const API_KEY = 'SG.unit-test-key';
const WEBHOOK_URL = 'http://receiver.test/webhooks/sendgrid';
const START = Date.parse('2030-01-01T00:00:00Z');

/** A manual clock: `later` callbacks run only when the test advances time. */
function fakeContext() {
  let now = START;
  const timers: { at: number; fn: () => void }[] = [];
  const deliveries: OutgoingWebhook[] = [];
  const ctx: EmulatorContext = {
    now: () => new Date(now),
    deliver: (webhook) => deliveries.push(webhook),
    later: (ms, fn) => timers.push({ at: now + ms, fn }),
    baseUrl: () => 'http://127.0.0.1:1',
  };
  function runTimers(): void {
    for (let next = timers.shift(); next; next = timers.shift()) {
      now = Math.max(now, next.at);
      next.fn();
      timers.sort((a, b) => a.at - b.at);
    }
  }
  return {
    ctx,
    deliveries,
    runTimers,
    advance: (ms: number) => (now += ms),
    pending: () => timers.length,
  };
}

function request(body: unknown, overrides: Partial<EmulatorRequest> = {}): EmulatorRequest {
  return {
    method: 'POST',
    path: '/v3/mail/send',
    query: new URLSearchParams(),
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    rawBody: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    ...overrides,
  };
}

function mail(to: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    personalizations: [{ to: to.map((email) => ({ email })) }],
    from: { email: 'noreply@example.com' },
    subject: 'Hello',
    content: [{ type: 'text/plain', value: 'Hi' }],
    ...extra,
  };
}

function eventsOf(deliveries: OutgoingWebhook[]): SendgridEvent[] {
  return deliveries.flatMap((d) => JSON.parse(d.body) as SendgridEvent[]);
}

function sequence(events: SendgridEvent[], email: string): string[] {
  return events.filter((e) => e.email === email).map((e) => e.event);
}

describe(createSendgridEmulator.name, () => {
  function setup(eventDelayMs = 20) {
    const privateKey = generateEventWebhookKey();
    const sut = createSendgridEmulator({
      apiKey: API_KEY,
      webhookUrl: WEBHOOK_URL,
      privateKey,
      eventDelayMs,
    });
    return { sut, privateKey, ...fakeContext() };
  }

  describe('POST /v3/mail/send', () => {
    it('accepts a valid send with 202, an empty body and a 22-char X-Message-Id', async () => {
      const { sut, ctx } = setup();
      const res = await sut.handle(request(mail(['ada@example.com'])), ctx);
      expect(res.status).toBe(202);
      expect(res.body).toBeUndefined();
      expect(res.headers?.['X-Message-Id']).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(sut.state().messages).toEqual([
        expect.objectContaining({
          id: res.headers?.['X-Message-Id'],
          recipients: ['ada@example.com'],
        }),
      ]);
    });

    it.each([
      ['no header', {}],
      ['another key', { authorization: 'Bearer SG.other' }],
      ['Basic auth', { authorization: 'Basic U0c6eA==' }],
    ])('answers 401 with %s', async (_case, headers) => {
      const { sut, ctx } = setup();
      const res = await sut.handle(request(mail(['a@example.com']), { headers }), ctx);
      expect(res).toEqual({
        status: 401,
        body: { errors: [{ message: UNAUTHORIZED_MESSAGE, field: null, help: null }] },
      });
    });

    it('answers 404 elsewhere and 405 for other methods', async () => {
      const { sut, ctx } = setup();
      expect((await sut.handle(request({}, { path: '/v3/templates' }), ctx)).status).toBe(404);
      expect((await sut.handle(request('', { method: 'GET' }), ctx)).status).toBe(405);
    });

    it('answers 400 Bad Request to malformed JSON', async () => {
      const { sut, ctx } = setup();
      const res = await sut.handle(request('{"personalizations": ['), ctx);
      expect(res).toEqual({
        status: 400,
        body: { errors: [{ message: 'Bad Request', field: null, help: null }] },
      });
    });

    it('answers 400 with the validation errors and stores nothing', async () => {
      const { sut, ctx, pending } = setup();
      const res = await sut.handle(request(mail(['not-an-email'])), ctx);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        errors: [
          expect.objectContaining({
            field: 'personalizations.0.to.0.email',
            message: 'Does not contain a valid address.',
          }),
        ],
      });
      expect(sut.state().messages).toEqual([]);
      expect(pending()).toBe(0);
    });

    it('answers 200 in sandbox mode after validating, and sends nothing', async () => {
      const { sut, ctx, pending } = setup();
      const sandbox = { mail_settings: { sandbox_mode: { enable: true } } };
      const ok = await sut.handle(request(mail(['a@example.com'], sandbox)), ctx);
      expect(ok).toEqual({ status: 200 });
      expect(pending()).toBe(0);
      expect(sut.state().messages).toEqual([]);

      const invalid = await sut.handle(request(mail([], sandbox)), ctx);
      expect(invalid.status).toBe(400);
    });
  });

  describe('Event Webhook', () => {
    it.each([
      ['ada@example.com', ['processed', 'delivered']],
      [SENDGRID_BOUNCE_RECIPIENT, ['processed', 'bounce']],
      [SENDGRID_BLOCKED_RECIPIENT, ['processed', 'bounce']],
      [SENDGRID_DROPPED_RECIPIENT, ['dropped']],
      [SENDGRID_DEFERRED_RECIPIENT, ['processed', 'deferred', 'delivered']],
    ])('sends %s the events %j', async (email, expected) => {
      const { sut, ctx, deliveries, runTimers } = setup();
      await sut.handle(request(mail([email])), ctx);
      expect(deliveries).toHaveLength(0);
      runTimers();
      expect(deliveries).toHaveLength(expected.length);
      expect(sequence(eventsOf(deliveries), email)).toEqual(expected);
    });

    it('spaces the stages eventDelayMs apart, one batch per stage for all recipients', async () => {
      const { sut, ctx, deliveries, runTimers } = setup(1000);
      await sut.handle(
        request(mail(['a@example.com', SENDGRID_DEFERRED_RECIPIENT, SENDGRID_DROPPED_RECIPIENT])),
        ctx,
      );
      runTimers();
      const batches = deliveries.map((d) => JSON.parse(d.body) as SendgridEvent[]);
      expect(batches.map((b) => b.map((e) => `${e.email.split('@')[0]}:${e.event}`))).toEqual([
        ['a:processed', 'deferred:processed', 'dropped:dropped'],
        ['a:delivered', 'deferred:deferred'],
        ['deferred:delivered'],
      ]);
      expect(batches.map((b) => b[0].timestamp - START / 1000)).toEqual([1, 2, 3]);
    });

    it('describes each event as SendGrid does', async () => {
      const { sut, ctx, deliveries, runTimers } = setup();
      const res = await sut.handle(
        request({
          ...mail([]),
          personalizations: [
            {
              to: [{ email: SENDGRID_BOUNCE_RECIPIENT }],
              custom_args: { order_id: 'o_2', event: 'clash' },
            },
            {
              to: [{ email: SENDGRID_DROPPED_RECIPIENT }],
              cc: [{ email: SENDGRID_DEFERRED_RECIPIENT }],
            },
          ],
          categories: ['receipt', 'shop'],
          custom_args: { tenant: 't_1', order_id: 'o_1' },
        }),
        ctx,
      );
      const messageId = res.headers?.['X-Message-Id'] ?? '';
      runTimers();
      const events = eventsOf(deliveries);
      for (const e of events) {
        expect(e).toMatchObject({
          timestamp: expect.any(Number),
          'smtp-id': `<${messageId}@ismtpd-sandbox>`,
          category: ['receipt', 'shop'],
          sg_event_id: expect.stringMatching(/^[A-Za-z0-9+/]{22}==$/),
          sg_message_id: expect.stringMatching(new RegExp(`^${messageId}\\.recvd-\\S+$`)),
          tenant: 't_1',
        });
        expect(e.sg_message_id.split('.')[0]).toBe(messageId);
      }
      expect(new Set(events.map((e) => e.sg_event_id)).size).toBe(events.length);
      // One sg_message_id per recipient, the same on all of its events.
      const ids = new Map(events.map((e) => [e.email, e.sg_message_id]));
      expect(new Set(ids.values()).size).toBe(3);
      expect(events.every((e) => ids.get(e.email) === e.sg_message_id)).toBe(true);

      const bounce = events.find((e) => e.event === 'bounce');
      expect(bounce).toMatchObject({
        type: 'bounce',
        status: '5.1.1',
        reason: expect.any(String),
        order_id: 'o_2',
      });
      expect(
        events
          .filter((e) => e.email === SENDGRID_BOUNCE_RECIPIENT)
          .every((e) => e.event !== 'clash'),
      ).toBe(true);
      expect(events.find((e) => e.event === 'dropped')).toMatchObject({
        reason: 'Bounced Address',
        status: '5.0.0',
        order_id: 'o_1',
      });
      expect(events.find((e) => e.event === 'deferred')).toMatchObject({
        attempt: '1',
        response: expect.any(String),
      });
      expect(events.find((e) => e.event === 'delivered')).toMatchObject({ response: '250 OK' });
    });

    it('marks blocked recipients with type "blocked"', async () => {
      const { sut, ctx, deliveries, runTimers } = setup();
      await sut.handle(request(mail([SENDGRID_BLOCKED_RECIPIENT])), ctx);
      runTimers();
      expect(eventsOf(deliveries).find((e) => e.event === 'bounce')).toMatchObject({
        type: 'blocked',
        status: '5.7.1',
      });
    });

    it('signs each batch with the webhook headers, and re-signs with the attempt time', async () => {
      const { sut, ctx, deliveries, runTimers, advance } = setup();
      await sut.handle(request(mail(['a@example.com'])), ctx);
      runTimers();
      const ew = new EventWebhook();
      const key = ew.convertPublicKeyToECDSA(sut.publicKeyBase64());
      const [first] = deliveries;
      expect(first.url).toBe(WEBHOOK_URL);
      expect(first.headers['Content-Type']).toBe('application/json');
      expect(first.body.endsWith('\r\n')).toBe(true);
      const ts = first.headers[EVENT_WEBHOOK_TIMESTAMP_HEADER];
      expect(
        ew.verifySignature(key, first.body, first.headers[EVENT_WEBHOOK_SIGNATURE_HEADER], ts),
      ).toBe(true);

      advance(3_600_000);
      const again = first.resign?.(first.body) ?? {};
      expect(Number(again[EVENT_WEBHOOK_TIMESTAMP_HEADER])).toBe(Number(ts) + 3600);
      expect(
        ew.verifySignature(
          key,
          first.body,
          again[EVENT_WEBHOOK_SIGNATURE_HEADER],
          again[EVENT_WEBHOOK_TIMESTAMP_HEADER],
        ),
      ).toBe(true);
    });

    it('records events but delivers nothing without a webhook URL, until one is set', async () => {
      const sut = createSendgridEmulator({ apiKey: API_KEY });
      const { ctx, deliveries, runTimers } = fakeContext();
      await sut.handle(request(mail(['a@example.com'])), ctx);
      runTimers();
      expect(deliveries).toHaveLength(0);
      expect(sut.state().events.map((e) => e.event)).toEqual(['processed', 'delivered']);

      sut.setWebhookUrl(WEBHOOK_URL);
      await sut.handle(request(mail(['b@example.com'])), ctx);
      runTimers();
      expect(deliveries.map((d) => d.url)).toEqual([WEBHOOK_URL, WEBHOOK_URL]);
    });
  });

  describe('trigger', () => {
    it('fills in a single event from an accepted message', async () => {
      const { sut, ctx, deliveries, runTimers } = setup();
      const res = await sut.handle(request(mail(['ada@example.com'], { categories: ['c'] })), ctx);
      runTimers();
      const messageId = res.headers?.['X-Message-Id'];
      const delivered = sut.state().events.find((e) => e.event === 'delivered');

      const out = sut.trigger({ messageId, event: 'open', useragent: 'Mozilla/5.0' }, ctx);
      expect(out.url).toBe(WEBHOOK_URL);
      expect(out.events).toEqual([
        expect.objectContaining({
          email: 'ada@example.com',
          event: 'open',
          useragent: 'Mozilla/5.0',
          category: ['c'],
          sg_message_id: delivered?.sg_message_id,
        }),
      ]);
      expect(out.events[0]).not.toHaveProperty('messageId');
      expect(deliveries.at(-1)?.body).toBe(JSON.stringify(out.events) + '\r\n');
    });

    it('re-sends events as given, so tests can send duplicates and out-of-order batches', async () => {
      const { sut, ctx, deliveries, runTimers } = setup();
      await sut.handle(request(mail(['ada@example.com'])), ctx);
      runTimers();
      const [processed, delivered] = sut.state().events;

      const out = sut.trigger(
        { events: [delivered, processed, { event: 'click', url: 'https://example.com' }] },
        ctx,
      );
      expect(out.events.slice(0, 2)).toEqual([delivered, processed]);
      expect(out.events[2]).toMatchObject({
        event: 'click',
        url: 'https://example.com',
        email: 'recipient@example.com',
      });
      expect(eventsOf(deliveries.slice(-1))).toEqual(out.events);
    });

    it('can target another URL and rejects malformed bodies', () => {
      const sut = createSendgridEmulator({ apiKey: API_KEY });
      const { ctx, deliveries } = fakeContext();
      expect(() => sut.trigger({ event: 'open' }, ctx)).toThrow(/no webhook URL/);
      expect(() => sut.trigger('nope', ctx)).toThrow(TypeError);
      expect(() => sut.trigger({ events: [1], url: WEBHOOK_URL }, ctx)).toThrow(TypeError);
      sut.trigger({ event: 'open', url: 'http://other.test/hook' }, ctx);
      expect(deliveries.map((d) => d.url)).toEqual(['http://other.test/hook']);
    });
  });

  it('reset() forgets messages and events', async () => {
    const { sut, ctx, runTimers } = setup();
    await sut.handle(request(mail(['a@example.com'])), ctx);
    runTimers();
    sut.reset();
    expect(sut.state()).toEqual({ messages: [], events: [], webhookUrl: WEBHOOK_URL });
  });

  it('uses SendGrid rate-limit headers and error bodies for injected faults', () => {
    const { sut } = setup();
    const headers = sut.rateLimitHeaders(new Date());
    expect(headers).toEqual({
      'X-RateLimit-Limit': expect.stringMatching(/^\d+$/),
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': expect.stringMatching(/^\d{10}$/),
    });
    const reset = Number(headers['X-RateLimit-Reset']);
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 60);
    for (const status of [429, 500, 503]) {
      expect(sut.errorBody(status)).toEqual({
        errors: [{ message: expect.any(String), field: null, help: null }],
      });
    }
  });

  it('exposes the public half of the given key, and rejects keys of another curve', () => {
    const privateKey = generateEventWebhookKey();
    expect(createSendgridEmulator({ apiKey: API_KEY, privateKey }).publicKeyBase64()).toBe(
      publicKeyBase64(privateKey),
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    expect(() => createSendgridEmulator({ apiKey: API_KEY, privateKey: p384 })).toThrow(TypeError);
  });
});

describe(recipientOutcome.name, () => {
  it.each([
    ['bounce@sandbox.switchboard.test', 'bounce'],
    ['Bounce+order-42@Sandbox.Switchboard.Test', 'bounce'],
    ['blocked@sandbox.switchboard.test', 'blocked'],
    ['dropped+x@sandbox.switchboard.test', 'dropped'],
    ['deferred@sandbox.switchboard.test', 'deferred'],
    ['bounce@example.com', 'delivered'],
    ['someone@sandbox.switchboard.test', 'delivered'],
  ])('%s → %s', (email, outcome) => {
    expect(recipientOutcome(email)).toBe(outcome);
  });
});
