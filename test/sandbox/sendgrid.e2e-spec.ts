import { createPublicKey, verify } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@sendgrid/client';
import { EventWebhook, EventWebhookHeader } from '@sendgrid/eventwebhook';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import {
  SENDGRID_BLOCKED_RECIPIENT,
  SENDGRID_BOUNCE_RECIPIENT,
  SENDGRID_DEFERRED_RECIPIENT,
  SENDGRID_DROPPED_RECIPIENT,
  createSendgridEmulator,
  type SendgridEmulatorState,
  type SendgridEvent,
} from '../../src/sandbox/sendgrid/sendgrid.emulator';
import { compileComponent, compileRequestBody } from './openapi';

const SPEC = 'sendgrid/oai_v3_stoplight.json';
const API_KEY = 'SG.e2e-sandbox-key.0123456789';
const FROM = { email: 'noreply@switchboard.test', name: 'Switchboard' };

/** A webhook receiver that answers the queued statuses first, then 200. */
class Receiver {
  readonly batches: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  private statuses: number[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.batches.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(this.statuses.shift() ?? 200).end();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/sendgrid`;
  }

  failNext(...statuses: number[]): void {
    this.statuses.push(...statuses);
  }

  events(): SendgridEvent[] {
    return this.batches.flatMap((b) => JSON.parse(b.body) as SendgridEvent[]);
  }

  reset(): void {
    this.batches.length = 0;
    this.statuses = [];
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** What the SDK's ResponseError carries (axios response, flattened by @sendgrid/client). */
interface SdkError {
  code: number | string;
  message: string;
  response?: {
    headers: Record<string, string>;
    body: { errors: { message: string; field: string | null; help: unknown }[] };
  };
}

async function failure(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error('expected the SDK call to fail');
}

describe('SendGrid emulator (e2e, @sendgrid/mail)', () => {
  const emulator = createSendgridEmulator({ apiKey: API_KEY, eventDelayMs: 5 });
  const server = new EmulatorServer(emulator, {
    delivery: { retryScheduleMs: [5, 5, 5], timeoutMs: 2000 },
  });
  const receiver = new Receiver();
  const ew = new EventWebhook();
  const sdkPublicKey = ew.convertPublicKeyToECDSA(emulator.publicKeyBase64());
  const nodePublicKey = createPublicKey({
    key: Buffer.from(emulator.publicKeyBase64(), 'base64'),
    format: 'der',
    type: 'spki',
  });
  const requestBodySchema = compileRequestBody(SPEC, '/mail/send', 'post');
  const errorSchema = compileComponent(SPEC, 'global_error_response_schema');
  let base: string;
  let client: Client;
  let mail: MailService;

  function sdk(apiKey = API_KEY): { client: Client; mail: MailService } {
    const c = new Client();
    // setApiKey() resets baseUrl to api.sendgrid.com, so the base URL must come after it.
    c.setApiKey(apiKey);
    c.setDefaultRequest('baseUrl', base);
    const m = new MailService();
    m.setClient(c);
    return { client: c, mail: m };
  }

  function message(overrides: Partial<MailDataRequired> = {}): MailDataRequired {
    return {
      to: 'ada@example.com',
      from: FROM,
      subject: 'Your receipt',
      text: 'Thanks!',
      html: '<p>Thanks!</p>',
      ...overrides,
    };
  }

  /** The body the SDK put on the wire for the last mail send. */
  function lastSentBody(): unknown {
    const sends = server.requests().filter((r) => r.path === '/v3/mail/send');
    return JSON.parse(sends[sends.length - 1].body);
  }

  /**
   * The spec types `help` as an object, but SendGrid answers a URL string or null
   * (see the unit spec of the validator); everything else is checked as written.
   */
  function assertErrorBody(body: unknown): void {
    const { errors } = body as { errors: { help: unknown }[] };
    for (const e of errors) expect(e.help === null || typeof e.help === 'string').toBe(true);
    errorSchema.assert({ errors: errors.map(({ help: _help, ...rest }) => rest) }, 'error body');
  }

  function state(): SendgridEmulatorState {
    return emulator.state();
  }

  function verifies(
    batch: { headers: http.IncomingHttpHeaders; body: string },
    body = batch.body,
  ): boolean {
    const signature = batch.headers[EventWebhookHeader.SIGNATURE().toLowerCase()] as string;
    const timestamp = batch.headers[EventWebhookHeader.TIMESTAMP().toLowerCase()] as string;
    return ew.verifySignature(sdkPublicKey, body, signature, timestamp);
  }

  beforeAll(async () => {
    emulator.setWebhookUrl(await receiver.start());
    base = await server.start();
    ({ client, mail } = sdk());
  });

  afterEach(() => {
    // Every body SendGrid would accept must also be valid per the spec (rejected ones are checked per case).
    for (const r of server.requests()) {
      if (r.path === '/v3/mail/send' && (r.status === 200 || r.status === 202)) {
        requestBodySchema.assert(JSON.parse(r.body), 'accepted SDK request');
      }
    }
    server.reset();
    receiver.reset();
  });

  afterAll(async () => {
    await server.stop();
    await receiver.stop();
  });

  describe('POST /v3/mail/send', () => {
    it('answers 202 with an X-Message-Id to a spec-valid SDK request', async () => {
      const [res] = await mail.send(message({ categories: ['receipt'] }));
      expect(res.statusCode).toBe(202);
      expect(res.body).toBe('');
      expect(res.headers['x-message-id']).toMatch(/^[A-Za-z0-9_-]{22}$/);
      requestBodySchema.assert(lastSentBody(), 'SDK request');
      expect(server.requests().at(-1)?.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(state().messages).toEqual([
        expect.objectContaining({
          id: res.headers['x-message-id'],
          recipients: ['ada@example.com'],
        }),
      ]);
    });

    it('answers 200 in sandbox mode and sends no events', async () => {
      const [res] = await mail.send(message({ mailSettings: { sandboxMode: { enable: true } } }));
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-message-id']).toBeUndefined();
      requestBodySchema.assert(lastSentBody(), 'SDK request');
      await server.whenDeliveriesIdle();
      expect(receiver.batches).toHaveLength(0);
      expect(state()).toMatchObject({ messages: [], events: [] });
    });

    it('answers 401 to another API key, in SendGrid error format', async () => {
      const err = await failure(sdk('SG.wrong-key').mail.send(message()));
      expect(err.code).toBe(401);
      expect(err.response?.body).toEqual({
        errors: [
          {
            message: 'The provided authorization grant is invalid, expired, or revoked',
            field: null,
            help: null,
          },
        ],
      });
      assertErrorBody(err.response?.body);
    });

    const many = (n: number, prefix: string): { email: string }[] =>
      Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com` }));

    // `specRejects`: whether the spec's request schema also rejects the body the SDK sent.
    // The spec cannot express the semantic rules (subject/content optional with a template,
    // content order, recipient totals), so those bodies are spec-valid yet refused by SendGrid.
    const cases: {
      name: string;
      send: () => Promise<unknown>;
      field: string;
      message: RegExp;
      specRejects: boolean;
    }[] = [
      {
        name: 'empty personalizations',
        send: () => mail.send(message({ to: undefined, personalizations: [] })),
        field: 'personalizations',
        message: /at least one personalization/,
        specRejects: false,
      },
      {
        name: 'more than 1000 personalizations',
        send: () =>
          mail.send(
            message({ to: undefined, personalizations: many(1001, 'p').map((r) => ({ to: [r] })) }),
          ),
        field: 'personalizations',
        message: /limited to 1000 personalizations .* provided 1001/,
        specRejects: true,
      },
      {
        name: 'a personalization without to',
        // The SDK turns a personalization without `to` into `to: []` on the wire.
        send: () =>
          mail.send(
            message({
              to: undefined,
              personalizations: [{ to: 'a@example.com' }, { to: [], cc: 'b@example.com' }],
            }),
          ),
        field: 'personalizations.1.to',
        message: /The to array is required/,
        specRejects: false,
      },
      {
        name: 'an invalid address',
        send: () => mail.send(message({ to: ['ok@example.com', 'not-an-address'] })),
        field: 'personalizations.0.to.1.email',
        message: /^Does not contain a valid address\.$/,
        specRejects: true,
      },
      {
        name: 'no from',
        send: () => mail.send(message({ from: undefined })),
        field: 'from',
        message: /The from object must be provided/,
        specRejects: true,
      },
      {
        name: 'no subject',
        send: () => mail.send(message({ subject: undefined })),
        field: 'subject',
        message: /The subject is required/,
        specRejects: true,
      },
      {
        name: 'no content',
        send: () => mail.send(message({ text: undefined, html: undefined })),
        field: 'content',
        message: /Unless a valid template_id is provided, the content parameter is required/,
        specRejects: true,
      },
      {
        name: 'an empty content value',
        send: () => mail.send(message({ text: '', html: undefined })),
        field: 'content.0.value',
        message: /content value must be a string at least one character/,
        specRejects: true,
      },
      {
        name: 'text/html before text/plain',
        send: () =>
          mail.send(
            message({
              text: undefined,
              html: undefined,
              content: [
                { type: 'text/html', value: '<p>Hi</p>' },
                { type: 'text/plain', value: 'Hi' },
              ],
            }),
          ),
        field: 'content',
        message: /text\/plain needs to be first, followed by text\/html/,
        specRejects: false,
      },
      {
        name: 'more than 1000 recipients in total',
        send: () =>
          mail.send(
            message({
              to: undefined,
              personalizations: [{ to: many(600, 't'), cc: many(401, 'c') }],
            }),
          ),
        field: 'personalizations',
        message: /limit of 1000 total recipients/,
        specRejects: false,
      },
      {
        // @sendgrid/mail drops dynamic_template_data for a non-`d-` template, so send the raw body.
        name: 'dynamic_template_data with a legacy template_id',
        send: () =>
          client.request({
            method: 'POST',
            url: '/v3/mail/send',
            body: {
              personalizations: [
                { to: [{ email: 'ada@example.com' }], dynamic_template_data: { name: 'Ada' } },
              ],
              from: FROM,
              template_id: '13b8f94f-bcae-4ec6-b752-70d6cb59f932',
            },
          }),
        field: 'template_id',
        message: /template_id is required when using dynamic templates/,
        specRejects: true,
      },
    ];

    it.each(cases)('answers 400 to $name, surfaced by the SDK as a ResponseError', async (c) => {
      const err = await failure(c.send());
      expect(err.constructor.name).toBe('ResponseError');
      expect(err.code).toBe(400);
      expect(err.message).toBe('Bad Request');
      const errors = err.response?.body.errors ?? [];
      expect(errors).toEqual([
        expect.objectContaining({ message: expect.stringMatching(c.message), field: c.field }),
      ]);
      assertErrorBody(err.response?.body);
      expect(requestBodySchema(lastSentBody())).toBe(!c.specRejects);
      expect(state().messages).toEqual([]);
    });
  });

  describe('Event Webhook', () => {
    it.each([
      ['ada@example.com', ['processed', 'delivered']],
      [SENDGRID_BOUNCE_RECIPIENT, ['processed', 'bounce']],
      [SENDGRID_BLOCKED_RECIPIENT, ['processed', 'bounce']],
      [SENDGRID_DROPPED_RECIPIENT, ['dropped']],
      [SENDGRID_DEFERRED_RECIPIENT, ['processed', 'deferred', 'delivered']],
    ])('delivers %s the events %j, each batch signed', async (email, expected) => {
      const [res] = await mail.send(message({ to: email }));
      await server.whenDeliveriesIdle();
      const messageId = res.headers['x-message-id'] as string;

      // Emission order is deterministic; arrival order is not promised (nor by SendGrid).
      const emitted = state().events;
      expect(emitted.map((e) => e.event)).toEqual(expected);
      const received = receiver.events();
      expect(received.map((e) => e.sg_event_id).sort()).toEqual(
        emitted.map((e) => e.sg_event_id).sort(),
      );
      for (const e of received) {
        expect(e).toMatchObject({
          email,
          sg_message_id: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.recvd-/),
        });
        // DESIGN: the part of sg_message_id before the first dot is the X-Message-Id.
        expect(e.sg_message_id.split('.')[0]).toBe(messageId);
      }
      expect(receiver.batches).toHaveLength(expected.length);
      for (const batch of receiver.batches) {
        expect(batch.headers['content-type']).toBe('application/json');
        expect(verifies(batch)).toBe(true);
      }
    });

    it('describes bounces, drops and deferrals as SendGrid does, with custom args and categories', async () => {
      await mail.send(
        message({
          to: undefined,
          categories: ['receipt'],
          personalizations: [
            { to: SENDGRID_BOUNCE_RECIPIENT, customArgs: { order_id: 'o_1' } },
            { to: SENDGRID_BLOCKED_RECIPIENT, customArgs: { order_id: 'o_2' } },
            { to: SENDGRID_DROPPED_RECIPIENT, customArgs: { order_id: 'o_3' } },
            { to: SENDGRID_DEFERRED_RECIPIENT, customArgs: { order_id: 'o_4' } },
          ],
        }),
      );
      requestBodySchema.assert(lastSentBody(), 'SDK request');
      await server.whenDeliveriesIdle();
      const events = receiver.events();
      const find = (email: string, event: string) =>
        events.find((e) => e.email === email && e.event === event);
      expect(find(SENDGRID_BOUNCE_RECIPIENT, 'bounce')).toMatchObject({
        type: 'bounce',
        status: expect.stringMatching(/^5\./),
        reason: expect.any(String),
        order_id: 'o_1',
        category: ['receipt'],
      });
      expect(find(SENDGRID_BLOCKED_RECIPIENT, 'bounce')).toMatchObject({
        type: 'blocked',
        order_id: 'o_2',
      });
      expect(find(SENDGRID_DROPPED_RECIPIENT, 'dropped')).toMatchObject({
        reason: 'Bounced Address',
        status: '5.0.0',
        order_id: 'o_3',
      });
      expect(find(SENDGRID_DEFERRED_RECIPIENT, 'deferred')).toMatchObject({
        attempt: '1',
        response: expect.any(String),
        order_id: 'o_4',
      });
      for (const e of events) {
        expect(e).toMatchObject({
          timestamp: expect.any(Number),
          'smtp-id': expect.stringMatching(/^<.+>$/),
        });
        expect(Number.isInteger(e.timestamp) && e.timestamp < 1e11).toBe(true);
      }
      expect(new Set(events.map((e) => e.sg_event_id)).size).toBe(events.length);
    });

    it('signs exactly timestamp + raw body: the trailing CRLF counts and one altered byte fails', async () => {
      await mail.send(message());
      await server.whenDeliveriesIdle();
      const [batch] = receiver.batches;
      expect(batch.body.endsWith(']\r\n')).toBe(true);
      expect(verifies(batch)).toBe(true);
      // @sendgrid/eventwebhook hashes exactly what it is given: no trimming, no re-serialising.
      expect(verifies(batch, batch.body.trimEnd())).toBe(false);
      expect(verifies(batch, JSON.stringify(JSON.parse(batch.body)))).toBe(false);
      expect(batch.body).toContain('"ada@example.com"');
      expect(verifies(batch, batch.body.replace('"ada@', '"adb@'))).toBe(false);

      const timestamp = batch.headers['x-twilio-email-event-webhook-timestamp'] as string;
      const signature = Buffer.from(
        batch.headers['x-twilio-email-event-webhook-signature'] as string,
        'base64',
      );
      expect(timestamp).toMatch(/^\d{10}$/);
      expect(verify('sha256', Buffer.from(timestamp + batch.body), nodePublicKey, signature)).toBe(
        true,
      );
    });

    it('redelivers a batch after a non-2xx, re-signed for the new attempt', async () => {
      receiver.failNext(500);
      await mail.send(message());
      await server.whenDeliveriesIdle();
      // Whichever batch reached the receiver first got the 500.
      const deliveries = server.deliveries();
      expect(deliveries.map((d) => d.attempts.map((a) => a.status)).sort()).toEqual([
        [200],
        [500, 200],
      ]);
      const first = deliveries.find((d) => d.attempts.length === 2);
      expect(first?.delivered).toBe(true);
      const attempts = receiver.batches.filter((b) => b.body === first?.body);
      expect(attempts).toHaveLength(2);
      expect(attempts[0].headers['x-twilio-email-event-webhook-signature']).not.toBe(
        attempts[1].headers['x-twilio-email-event-webhook-signature'],
      );
      expect(attempts.every((a) => verifies(a))).toBe(true);
      expect(server.deliveries().every((d) => d.delivered)).toBe(true);
    });

    it('sends duplicates, unknown event types and out-of-order batches on demand via /__sandbox/trigger', async () => {
      const [res] = await mail.send(message());
      await server.whenDeliveriesIdle();
      const [processed, delivered] = state().events;
      receiver.reset();

      const post = (body: unknown) =>
        fetch(`${base}/__sandbox/trigger`, {
          method: 'POST',
          body: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        });
      const replay = await post({ events: [delivered, processed, delivered] });
      expect(replay.status).toBe(200);
      await server.whenDeliveriesIdle();
      const open = await post({
        messageId: res.headers['x-message-id'],
        event: 'open',
        useragent: 'Mozilla/5.0',
      });
      expect(open.status).toBe(200);
      await server.whenDeliveriesIdle();

      expect(receiver.batches.map((b) => verifies(b))).toEqual([true, true]);
      const [again, opened] = receiver.batches.map((b) => JSON.parse(b.body) as SendgridEvent[]);
      expect(again).toEqual([delivered, processed, delivered]);
      expect(opened).toEqual([
        expect.objectContaining({
          event: 'open',
          email: 'ada@example.com',
          sg_message_id: delivered.sg_message_id,
          useragent: 'Mozilla/5.0',
        }),
      ]);
      expect((await post({ events: 'nope' })).status).toBe(400);
    });
  });

  describe('faults, through the SDK (which never retries)', () => {
    it('answers 429 with SendGrid rate-limit headers', async () => {
      server.queueFaults([{ kind: 'rate_limit' }]);
      const err = await failure(mail.send(message()));
      expect(err.code).toBe(429);
      const headers = err.response?.headers ?? {};
      expect(headers['x-ratelimit-remaining']).toBe('0');
      expect(Number(headers['x-ratelimit-limit'])).toBeGreaterThan(0);
      const reset = Number(headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 60);
      assertErrorBody(err.response?.body);
      expect(server.requests().map((r) => r.status)).toEqual(['rate_limit']);
    });

    it.each([
      ['server_error', 500],
      ['unavailable', 503],
    ] as const)('answers %s as %i', async (kind, status) => {
      server.queueFaults([{ kind }]);
      const err = await failure(mail.send(message()));
      expect(err.code).toBe(status);
      assertErrorBody(err.response?.body);
      const [res] = await mail.send(message());
      expect(res.statusCode).toBe(202);
      expect(server.requests().map((r) => r.status)).toEqual([kind, 202]);
    });

    it('resets the connection', async () => {
      server.queueFaults([{ kind: 'reset' }]);
      const err = await failure(mail.send(message()));
      expect(err.code).toBe('ECONNRESET');
      expect(server.requests().map((r) => r.status)).toEqual(['reset']);
      expect(state().messages).toEqual([]);
    });

    it('hangs until the SDK times out', async () => {
      const { mail: timed } = sdk();
      timed.setTimeout(100);
      server.queueFaults([{ kind: 'hang' }]);
      const err = await failure(timed.send(message()));
      expect(err.code).toBe('ECONNABORTED');
      expect(server.requests().map((r) => r.status)).toEqual(['hang']);
    });
  });
});
