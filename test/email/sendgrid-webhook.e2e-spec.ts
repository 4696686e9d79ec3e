import { randomBytes } from 'node:crypto';
import { RateLimitModule } from '../../src/common/rate-limit/rate-limit.module';
import type { EmailDto } from '../../src/email/dto/email.dto';
import { EmailModule } from '../../src/email/email.module';
import { SendgridWebhookController } from '../../src/email/sendgrid-webhook.controller';
import { JobsModule } from '../../src/jobs/jobs.module';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';
import { bearer, KEYS, startTestApp, TestApp } from '../helpers/app';
import { createTestDatabase, TestDatabase } from '../helpers/databases';
import {
  batchBody,
  describeEachTarget,
  EmailTestApp,
  newEventWebhookKeyPair,
  newSgEventId,
  SIGNATURE_HEADER,
  signEventBatch,
  startEmailTestApp,
  TIMESTAMP_HEADER,
} from './email-test-app';

const ADA = 'ada@example.com';
const TOLERANCE_SECONDS = 300;

describeEachTarget(SendgridWebhookController.name, (target, queueEnv) => {
  let database: TestDatabase;
  let sut: EmailTestApp;
  let email: EmailDto;
  let messageId: string;

  beforeAll(async () => {
    database = await target.create();
    // Events are built and signed by the tests themselves.
    sut = await startEmailTestApp(database, {
      webhooks: false,
      env: { WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS), ...queueEnv },
    });
    const res = await sut.post({ to: ADA, subject: 'Hello', text: 'Hi' });
    email = res.json<EmailDto>();
    await sut.settle();
    messageId = (await sut.email(email.id)).providerMessageId ?? '';
    expect(messageId).not.toBe('');
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  /** A SendGrid event about `email`, as the Event Webhook sends it. */
  const event = (type: string, fields: Record<string, unknown> = {}) => ({
    email: ADA,
    timestamp: sut.nowSeconds(),
    'smtp-id': `<${messageId}@ismtpd>`,
    event: type,
    sg_event_id: newSgEventId(),
    sg_message_id: `${messageId}.recvd-test-0-0.0`,
    switchboard_email_id: email.id,
    ...fields,
  });

  const rowsOf = (eventIds: string[]) =>
    sut.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('provider', '=', 'sendgrid')
      .where('event_id', 'in', eventIds)
      .execute();

  describe('accepted batches', () => {
    it('stores each event once under its sg_event_id, answers 200 and processes each once, unknown types included', async () => {
      const processed = event('processed');
      const unknown = event('machine_opened', { useragent: 'Robot/1.0' });
      const batch = [processed, processed, unknown];
      const before = await sut.webhookRowCount();

      const res = await sut.deliver(batch);

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true });
      expect(await sut.webhookRowCount()).toBe(before + 2);
      await sut.jobs.whenIdle();
      const rows = await rowsOf([processed.sg_event_id, unknown.sg_event_id]);
      expect(rows.map((r) => [r.type, r.status, r.attempts]).sort()).toEqual([
        ['machine_opened', 'processed', 1],
        ['processed', 'processed', 1],
      ]);
      let current = await sut.email(email.id);
      expect(current.status).toBe('processed');
      expect(current.events).toEqual([
        {
          type: 'processed',
          recipient: ADA,
          at: new Date(processed.timestamp * 1000).toISOString(),
        },
      ]);

      // SendGrid redelivers the batch: acknowledged, nothing stored or processed again.
      const again = await sut.deliver(batch);
      expect(again.statusCode).toBe(200);
      await sut.jobs.whenIdle();
      expect(await sut.webhookRowCount()).toBe(before + 2);
      expect((await rowsOf([processed.sg_event_id])).map((r) => r.attempts)).toEqual([1]);
      current = await sut.email(email.id);
      expect(current.events).toHaveLength(1);
    });

    it('stores an event without sg_event_id under a hash of it, once', async () => {
      const { sg_event_id: _none, ...open } = event('open', { useragent: 'Mozilla/5.0' });
      const before = await sut.webhookRowCount();
      expect((await sut.deliver([open])).statusCode).toBe(200);
      expect((await sut.deliver([open])).statusCode).toBe(200);
      expect(await sut.webhookRowCount()).toBe(before + 1);
      const row = await sut.db
        .selectFrom('webhook_events')
        .select('event_id')
        .where('type', '=', 'open')
        .executeTakeFirstOrThrow();
      expect(row.event_id).toMatch(/^sha256:[0-9a-f]{64}$/);
      await sut.jobs.whenIdle();
    });

    it('records engagement without changing any status', async () => {
      const statusBefore = (await sut.email(email.id)).status;
      const batch = [
        'open',
        'click',
        'spamreport',
        'unsubscribe',
        'group_unsubscribe',
        'group_resubscribe',
      ].map((type) => event(type));
      expect((await sut.deliver(batch)).statusCode).toBe(200);
      await sut.jobs.whenIdle();
      const current = await sut.email(email.id);
      expect(current.status).toBe(statusBefore);
      expect(current.recipients).toEqual([{ email: ADA, status: statusBefore }]);
      expect(current.events.map((e) => e.type)).toEqual(
        expect.arrayContaining(batch.map((e) => e.event)),
      );
    });

    it('matches an event without our custom arg by the X-Message-Id that starts its sg_message_id', async () => {
      const { switchboard_email_id: _none, ...delivered } = event('delivered', {
        response: '250 OK',
      });
      expect((await sut.deliver([delivered])).statusCode).toBe(200);
      await sut.jobs.whenIdle();
      const current = await sut.email(email.id);
      expect(current.status).toBe('delivered');
      expect(current.recipients).toEqual([{ email: ADA, status: 'delivered' }]);
    });

    it('matches an X-Message-Id that holds dots, as older SendGrid ids do', async () => {
      const other = (await sut.post({ to: ADA, subject: 'Dotted', text: 'Hi' })).json<EmailDto>();
      await sut.settle();
      const dotted = '14c5d75ce93.dfd.64b469';
      await sut.db
        .updateTable('emails')
        .set({ provider_message_id: dotted })
        .where('id', '=', other.id)
        .execute();
      const { switchboard_email_id: _none, ...bounce } = event('bounce', {
        sg_message_id: `${dotted}.filter0001.16648.5515E0B88.0`,
        reason: 'mailbox full',
      });

      expect((await sut.deliver([bounce])).statusCode).toBe(200);
      await sut.jobs.whenIdle();

      const applied = await sut.db
        .selectFrom('email_events')
        .select(['email_id', 'type'])
        .where('event_key', '=', bounce.sg_event_id)
        .execute();
      expect(applied).toEqual([{ email_id: other.id, type: 'bounce' }]);
    });

    it('acknowledges events about mail it did not send, and changes nothing', async () => {
      const stranger = event('delivered', {
        email: 'someone@example.com',
        sg_message_id: `${randomBytes(16).toString('base64url')}.recvd-x`,
        switchboard_email_id: undefined,
      });
      expect((await sut.deliver([stranger])).statusCode).toBe(200);
      await sut.jobs.whenIdle();
      const [row] = await rowsOf([stranger.sg_event_id]);
      expect(row.status).toBe('processed');
    });

    it('takes events as proof SendGrid had an email that looked failed (a timed-out request it accepted)', async () => {
      // JOB_MAX_ATTEMPTS=3 × (1 + PROVIDER_MAX_RETRIES=2) requests, all 503.
      sut.server.queueFaults(Array.from({ length: 9 }, () => ({ kind: 'unavailable' as const })));
      const failed = (
        await sut.post({ to: [ADA, 'grace@example.com'], subject: 'Hello', text: 'Hi' })
      ).json<EmailDto>();
      await sut.settle();
      expect(await sut.email(failed.id)).toMatchObject({
        status: 'failed',
        errorCode: 'provider_unavailable',
      });

      const processed = event('processed', {
        switchboard_email_id: failed.id,
        sg_message_id: 'unknown.recvd-0',
      });
      expect((await sut.deliver([processed])).statusCode).toBe(200);
      await sut.jobs.whenIdle();
      expect(await sut.email(failed.id)).toMatchObject({
        status: 'sent',
        errorCode: null,
        errorMessage: null,
        recipients: [
          { email: ADA, status: 'processed' },
          { email: 'grace@example.com', status: 'sent' },
        ],
      });
    });

    it('answers 200 to an empty batch', async () => {
      const before = await sut.webhookRowCount();
      const res = await sut.deliver([]);
      expect(res.statusCode).toBe(200);
      expect(await sut.webhookRowCount()).toBe(before);
    });

    it(`accepts timestamps exactly ${TOLERANCE_SECONDS} s in the past and in the future`, async () => {
      sut.freezeClock();
      try {
        for (const skew of [-TOLERANCE_SECONDS, TOLERANCE_SECONDS]) {
          const res = await sut.deliver([event('open')], { timestamp: sut.nowSeconds() + skew });
          expect(res.statusCode).toBe(200);
        }
      } finally {
        sut.unfreezeClock();
      }
      await sut.jobs.whenIdle();
    });
  });

  describe('refused requests', () => {
    const body = () => batchBody([event('delivered')]);

    /** Each case: the raw body and headers to send, or a function of a valid signature. */
    const cases: [string, () => { payload: string; headers: Record<string, string | string[]> }][] =
      [
        [
          'a tampered body',
          () => {
            const payload = body();
            const ts = sut.nowSeconds();
            return {
              payload: payload.replace(ADA, 'eve@example.com'),
              headers: {
                [SIGNATURE_HEADER]: signEventBatch(payload, ts, sut.privateKey),
                [TIMESTAMP_HEADER]: String(ts),
              },
            };
          },
        ],
        [
          'a tampered timestamp',
          () => {
            const payload = body();
            const ts = sut.nowSeconds();
            return {
              payload,
              headers: {
                [SIGNATURE_HEADER]: signEventBatch(payload, ts, sut.privateKey),
                [TIMESTAMP_HEADER]: String(ts + 1),
              },
            };
          },
        ],
        [
          'the trailing CRLF removed',
          () => {
            const payload = body();
            const ts = sut.nowSeconds();
            return {
              payload: payload.trimEnd(),
              headers: {
                [SIGNATURE_HEADER]: signEventBatch(payload, ts, sut.privateKey),
                [TIMESTAMP_HEADER]: String(ts),
              },
            };
          },
        ],
        [
          'another key',
          () => {
            const payload = body();
            const ts = sut.nowSeconds();
            const other = newEventWebhookKeyPair().privateKey;
            return {
              payload,
              headers: {
                [SIGNATURE_HEADER]: signEventBatch(payload, ts, other),
                [TIMESTAMP_HEADER]: String(ts),
              },
            };
          },
        ],
        [
          'no signature header',
          () => ({ payload: body(), headers: { [TIMESTAMP_HEADER]: String(sut.nowSeconds()) } }),
        ],
        [
          'no timestamp header',
          () => {
            const payload = body();
            return {
              payload,
              headers: {
                [SIGNATURE_HEADER]: signEventBatch(payload, sut.nowSeconds(), sut.privateKey),
              },
            };
          },
        ],
        ['no headers at all', () => ({ payload: body(), headers: {} })],
        ...[
          ['expired', -(TOLERANCE_SECONDS + 1)],
          ['too far in the future', TOLERANCE_SECONDS + 1],
          ['a day old', -86_400],
        ].map(
          ([name, skew]): [string, () => { payload: string; headers: Record<string, string> }] => [
            `a timestamp ${name as string}`,
            () => {
              const payload = body();
              const ts = sut.nowSeconds() + (skew as number);
              return {
                payload,
                headers: {
                  [SIGNATURE_HEADER]: signEventBatch(payload, ts, sut.privateKey),
                  [TIMESTAMP_HEADER]: String(ts),
                },
              };
            },
          ],
        ),
        ...[
          '',
          'not base64!',
          'AAAA',
          Buffer.alloc(64, 1).toString('base64'),
          `MEUCIQ${'A'.repeat(90)}`,
        ].map((signature): [string, () => { payload: string; headers: Record<string, string> }] => [
          `a malformed signature ${JSON.stringify(signature.slice(0, 12))}`,
          () => ({
            payload: body(),
            headers: {
              [SIGNATURE_HEADER]: signature,
              [TIMESTAMP_HEADER]: String(sut.nowSeconds()),
            },
          }),
        ]),
        ...['', 'soon', '1.5e9', '-1', `${Number.MAX_SAFE_INTEGER}0`].map(
          (timestamp): [string, () => { payload: string; headers: Record<string, string> }] => [
            `a malformed timestamp ${JSON.stringify(timestamp)}`,
            () => {
              const payload = body();
              return {
                payload,
                headers: {
                  [SIGNATURE_HEADER]: signEventBatch(payload, sut.nowSeconds(), sut.privateKey),
                  [TIMESTAMP_HEADER]: timestamp,
                },
              };
            },
          ],
        ),
        [
          'a repeated signature header',
          () => {
            const payload = body();
            const ts = sut.nowSeconds();
            const signature = signEventBatch(payload, ts, sut.privateKey);
            return {
              payload,
              headers: {
                [SIGNATURE_HEADER]: [signature, signature],
                [TIMESTAMP_HEADER]: String(ts),
              },
            };
          },
        ],
      ];

    it.each(cases)(
      'answers 400 invalid_signature to %s and stores nothing',
      async (_name, make) => {
        const before = await sut.webhookRowCount();
        // Frozen: a timestamp one second past the tolerance, read to the whole second, must
        // not come back inside it because the clock moved on before the check.
        sut.freezeClock();
        let res: Awaited<ReturnType<typeof sut.app.inject>>;
        try {
          const { payload, headers } = make();
          res = await sut.app.inject({
            method: 'POST',
            url: '/webhooks/sendgrid',
            payload,
            headers: { 'content-type': 'application/json', ...headers },
          });
        } finally {
          sut.unfreezeClock();
        }
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ statusCode: 400, code: 'invalid_signature' });
        expect(await sut.webhookRowCount()).toBe(before);
      },
    );

    it('answers a validly signed body that is not an array with 400 validation_failed and stores nothing', async () => {
      const before = await sut.webhookRowCount();
      const res = await sut.deliver('{"event":"delivered"}');
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
      expect(await sut.webhookRowCount()).toBe(before);
    });

    it('keeps the good events of a batch with unreadable ones, which change nothing', async () => {
      const delivered = event('delivered');
      const typeless = { email: ADA, sg_event_id: newSgEventId() };
      const res = await sut.deliver(batchBody([42, delivered, typeless]));

      expect(res.statusCode).toBe(200);
      await sut.settle();
      const rows = await sut.db
        .selectFrom('webhook_events')
        .select(['event_id', 'type', 'status'])
        .where('provider', '=', 'sendgrid')
        .where('event_id', 'in', [delivered.sg_event_id, typeless.sg_event_id])
        .orderBy('type')
        .execute();
      expect(rows).toEqual([
        { event_id: delivered.sg_event_id, type: 'delivered', status: 'processed' },
        { event_id: typeless.sg_event_id, type: 'unreadable', status: 'processed' },
      ]);
      // The good event was applied to its email; the unreadable ones to none.
      const applied = await sut.db
        .selectFrom('email_events')
        .select(['email_id', 'event_key', 'type'])
        .where('event_key', 'in', [delivered.sg_event_id, typeless.sg_event_id])
        .execute();
      expect(applied).toEqual([
        { email_id: email.id, event_key: delivered.sg_event_id, type: 'delivered' },
      ]);
    });

    it('refuses a non-JSON body with 415', async () => {
      const res = await sut.deliver('email=ada@example.com', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.statusCode).toBe(415);
    });
  });
});

describe(`${EmailModule.name} without SendGrid credentials`, () => {
  let database: TestDatabase;
  let sut: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({
      env: { DATABASE_URL: database.url },
      imports: [JobsModule, WebhooksModule, RateLimitModule, EmailModule],
    });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it.each([
    ['POST', '/emails'],
    ['GET', '/emails'],
    ['GET', '/emails/eml_00000000000000000000000000'],
    ['POST', '/webhooks/sendgrid'],
  ] as const)('answers %s %s with 503 provider_disabled', async (method, url) => {
    const res = await sut.app.inject({
      method,
      url,
      headers: { 'content-type': 'application/json', ...bearer(KEYS.emails) },
      ...(method === 'POST'
        ? { payload: url === '/emails' ? '{"to":"ada@example.com"}' : '[]' }
        : {}),
    });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ statusCode: 503, code: 'provider_disabled' });
  });

  it('still asks for an API key first', async () => {
    const res = await sut.app.inject({ method: 'GET', url: '/emails' });
    expect(res.statusCode).toBe(401);
  });
});
