import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import {
  TWILIO_FAILED_TO,
  TWILIO_MAGIC_FROM,
  TWILIO_MAGIC_TO,
  TWILIO_UNDELIVERED_TO,
  TWILIO_VALID_FROM,
  createTwilioEmulator,
} from '../../src/sandbox/twilio/twilio.emulator';
import { compileComponent, compileRequestBody, specFile } from './openapi';

const SPEC = 'twilio/twilio_api_v2010.json';
const MESSAGES = '/2010-04-01/Accounts/{AccountSid}/Messages.json';
const ACCOUNT = 'AC' + '0123456789abcdef'.repeat(2);
const TOKEN = 'e2e0'.repeat(8);
const SERVICE = 'MG' + 'fedcba9876543210'.repeat(2);
const OTHER_FROM = '+15551230000';
const RFC2822 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

// Twilio's error JSON; the v2010 spec does not describe it.
const errorSchema = {
  type: 'object',
  required: ['code', 'message', 'more_info', 'status'],
  additionalProperties: false,
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    more_info: { type: 'string', pattern: '^https://www\\.twilio\\.com/docs/errors/\\d+$' },
    status: { type: 'integer' },
  },
};

interface Exchange {
  statusCode: number;
  body: unknown;
  headers: Record<string, string>;
}

/** Points the real SDK at the emulator; the only seam twilio 6 offers. Records each raw response. */
function sdkFor(
  base: string,
  opts: { token?: string; timeout?: number; autoRetry?: boolean } = {},
) {
  const exchanges: Exchange[] = [];
  class EmulatorRequestClient extends twilio.RequestClient {
    override async request<T>(o: RequestClient.RequestOptions<T>) {
      o.uri = o.uri.replace('https://api.twilio.com', base);
      const res = await super.request<T>(o);
      exchanges.push({
        statusCode: res.statusCode,
        body: res.body,
        headers: res.headers as Record<string, string>,
      });
      return res;
    }
  }
  const httpClient = new EmulatorRequestClient({
    timeout: opts.timeout,
    autoRetry: opts.autoRetry,
    maxRetryDelay: 20,
  });
  const client = twilio(ACCOUNT, opts.token ?? TOKEN, { httpClient });
  return { client, exchanges, last: () => exchanges[exchanges.length - 1] };
}

interface Received {
  path: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  params: Record<string, string>;
}

/** A tiny webhook receiver: answers each path's scripted statuses in turn, then 200. */
async function startReceiver() {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const reqPath = (req.url ?? '/').split('?')[0];
      received.push({
        path: reqPath,
        url: `${base}${req.url ?? '/'}`,
        headers: req.headers,
        body,
        params: Object.fromEntries(new URLSearchParams(body)),
      });
      res.writeHead(scripts.get(reqPath)?.shift() ?? 200, { 'Content-Type': 'text/xml' });
      res.end('<Response/>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    script: (p: string, statuses: number[]) => scripts.set(p, [...statuses]),
    on: (p: string) => received.filter((r) => r.path === p),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const sigOf = (r: Received) => r.headers['x-twilio-signature'] as string;
const tokenOf = (r: Received) => r.headers['i-twilio-idempotency-token'] as string;

describe(createTwilioEmulator.name, () => {
  const messageSchema = compileComponent(SPEC, 'api.v2010.account.message');
  const messageProperties = Object.keys(
    (
      JSON.parse(readFileSync(specFile(SPEC), 'utf8')) as {
        components: { schemas: Record<string, { properties: object }> };
      }
    ).components.schemas['api.v2010.account.message'].properties,
  ).sort();
  const validateCreateForm = compileRequestBody(SPEC, MESSAGES, 'post', { coerceTypes: true });
  const ajvError = new Ajv({ allErrors: true }).compile(errorSchema);
  const validateError = (body: unknown) => {
    expect(ajvError(body) ? null : ajvError.errors).toBeNull();
  };
  /** The spec lists no `required` and types dates loosely: also check the exact key set and Twilio's date format. */
  const validateMessage = (body: unknown) => {
    messageSchema.assert(body, 'Message');
    const m = body as Record<string, unknown>;
    expect(Object.keys(m).sort()).toEqual(messageProperties);
    for (const k of ['date_created', 'date_updated', 'date_sent']) {
      if (m[k] !== null) expect(m[k]).toMatch(RFC2822);
    }
  };

  let server: EmulatorServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let base: string;
  let sdk: ReturnType<typeof sdkFor>;

  const lastError = () => {
    const { statusCode, body } = sdk.last();
    validateError(body);
    expect((body as { status: number }).status).toBe(statusCode);
  };
  const catchError = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e,
    );
    return err as InstanceType<typeof twilio.RestException> & { code?: string | number };
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    server = new EmulatorServer(
      createTwilioEmulator({
        accountSid: ACCOUNT,
        authToken: TOKEN,
        validFrom: [OTHER_FROM],
        messagingServiceSids: [SERVICE],
        // Long enough that one local delivery lands before the next status is sent.
        callbackDelayMs: 25,
      }),
      { delivery: { retryScheduleMs: [10, 10, 10], timeoutMs: 1000 } },
    );
    base = await server.start();
  });
  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
  });
  beforeEach(() => {
    server.reset();
    receiver.received.length = 0;
    sdk = sdkFor(base);
  });

  /** Every form the SDK posted to Messages.json, checked against the spec's request schema. */
  const expectSentFormsValid = () => {
    const posts = server
      .requests()
      .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));
    expect(posts.length).toBeGreaterThan(0);
    for (const r of posts) {
      expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const form = new URLSearchParams(r.body);
      const data: Record<string, string | string[]> = Object.fromEntries(form);
      if (form.has('MediaUrl')) data.MediaUrl = form.getAll('MediaUrl');
      validateCreateForm.assert(data, 'Messages.json form');
    }
  };

  describe('Messages API through the SDK', () => {
    it('creates a message (201) and fetches it as it progresses to delivered', async () => {
      const callback = `${receiver.base}/status?tenant=a`;
      const created = await sdk.client.messages.create({
        to: '+15557654321',
        from: TWILIO_VALID_FROM,
        body: 'Hello from the sandbox 👋',
        statusCallback: callback,
      });
      expect(sdk.last().statusCode).toBe(201);
      validateMessage(sdk.last().body);
      expectSentFormsValid();
      expect(created.sid).toMatch(/^SM[0-9a-f]{32}$/);
      expect(created).toMatchObject({
        accountSid: ACCOUNT,
        apiVersion: '2010-04-01',
        status: 'queued',
        direction: 'outbound-api',
        from: TWILIO_VALID_FROM,
        to: '+15557654321',
        numSegments: '1',
        errorCode: null,
      });
      // The SDK parses Twilio's RFC 2822 dates; a wrong format would give an invalid Date.
      expect(created.dateCreated.getTime()).not.toBeNaN();

      await server.whenDeliveriesIdle();
      const fetched = await sdk.client.messages(created.sid).fetch();
      expect(sdk.last().statusCode).toBe(200);
      validateMessage(sdk.last().body);
      expect(fetched.status).toBe('delivered');
      expect(fetched.dateSent?.getTime()).not.toBeNaN();
      expect(receiver.on('/status').map((r) => r.params.MessageStatus)).toEqual([
        'queued',
        'sent',
        'delivered',
      ]);
    });

    it('sends through a Messaging Service and an MMS', async () => {
      const viaService = await sdk.client.messages.create({
        to: '+15557654321',
        messagingServiceSid: SERVICE,
        body: 'x',
      });
      validateMessage(sdk.last().body);
      expect(viaService).toMatchObject({
        status: 'accepted',
        from: null,
        messagingServiceSid: SERVICE,
      });
      const mms = await sdk.client.messages.create({
        to: '+15557654321',
        from: OTHER_FROM,
        mediaUrl: ['https://example.com/a.jpg', 'https://example.com/b.jpg'],
      });
      validateMessage(sdk.last().body);
      expect(mms.sid).toMatch(/^MM/);
      expect(mms.numMedia).toBe('2');
      expectSentFormsValid();
      await server.whenDeliveriesIdle();
      expect((await sdk.client.messages(viaService.sid).fetch()).from).toBe(OTHER_FROM);
    });

    it.each(Object.entries(TWILIO_MAGIC_TO).map(([to, { code }]) => [to, code] as const))(
      'rejects To %s with RestException %d',
      async (to, code) => {
        const err = await catchError(
          sdk.client.messages.create({ to, from: TWILIO_VALID_FROM, body: 'x' }),
        );
        expect(err).toBeInstanceOf(twilio.RestException);
        expect(err).toMatchObject({
          status: 400,
          code,
          moreInfo: `https://www.twilio.com/docs/errors/${code}`,
        });
        lastError();
        expectSentFormsValid();
      },
    );

    it.each(Object.entries(TWILIO_MAGIC_FROM).map(([from, { code }]) => [from, code] as const))(
      'rejects From %s with RestException %d',
      async (from, code) => {
        const err = await catchError(
          sdk.client.messages.create({ to: '+15557654321', from, body: 'x' }),
        );
        expect(err).toBeInstanceOf(twilio.RestException);
        expect(err).toMatchObject({ status: 400, code });
        lastError();
      },
    );

    it.each([
      ['no body', 21602, { to: '+15557654321', from: TWILIO_VALID_FROM }],
      ['no sender', 21603, { to: '+15557654321', body: 'x' }],
      ['a From not ours', 21606, { to: '+15557654321', from: '+15550000000', body: 'x' }],
      ['a malformed To', 21211, { to: '555-1234', from: TWILIO_VALID_FROM, body: 'x' }],
      [
        'a 1601-char body',
        21617,
        { to: '+15557654321', from: TWILIO_VALID_FROM, body: 'x'.repeat(1601) },
      ],
    ])('rejects %s with RestException %d', async (_name, code, params) => {
      const err = await catchError(sdk.client.messages.create(params));
      expect(err).toMatchObject({ status: 400, code });
      lastError();
    });

    it('answers a missing To (which the SDK refuses to send) with 21604', async () => {
      const res = await fetch(`${base}/2010-04-01/Accounts/${ACCOUNT}/Messages.json`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `From=${encodeURIComponent(TWILIO_VALID_FROM)}&Body=x`,
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { code: number };
      validateError(body);
      expect(body.code).toBe(21604);
    });

    it('rejects a wrong auth token with 401/20003 and an unknown message with 404/20404', async () => {
      const wrong = sdkFor(base, { token: 'x'.repeat(32) });
      const unauthorized = await catchError(
        wrong.client.messages.create({ to: '+15557654321', from: TWILIO_VALID_FROM, body: 'x' }),
      );
      expect(unauthorized).toMatchObject({ status: 401, code: 20003 });
      validateError(wrong.last().body);
      const missing = await catchError(sdk.client.messages(`SM${'0'.repeat(32)}`).fetch());
      expect(missing).toMatchObject({ status: 404, code: 20404 });
      lastError();
    });
  });

  describe('status callbacks', () => {
    const send = async (to: string) => {
      const { sid } = await sdk.client.messages.create({
        to,
        from: TWILIO_VALID_FROM,
        body: 'status please',
        statusCallback: `${receiver.base}/cb/${to.slice(1)}?x=1`,
      });
      return sid;
    };

    it.each([
      ['+15557654321', ['queued', 'sent', 'delivered'], undefined],
      [TWILIO_UNDELIVERED_TO, ['queued', 'sent', 'undelivered'], '30005'],
      [TWILIO_FAILED_TO, ['queued', 'failed'], '30006'],
    ])('to %s: %j, signed, with idempotency tokens', async (to, statuses, errorCode) => {
      const sid = await send(to);
      await server.whenDeliveriesIdle();
      const got = receiver.on(`/cb/${to.slice(1)}`);
      expect(got.map((r) => r.params.MessageStatus)).toEqual(statuses);
      expect(got.at(-1)?.params.ErrorCode).toBe(errorCode);
      for (const r of got) {
        expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
        expect(r.params).toMatchObject({
          MessageSid: sid,
          SmsSid: sid,
          AccountSid: ACCOUNT,
          To: to,
          From: TWILIO_VALID_FROM,
        });
        expect(r.params.SmsStatus).toBe(r.params.MessageStatus);
        expect(r.params.ApiVersion).toBe('2010-04-01');
        expect(twilio.validateRequest(TOKEN, sigOf(r), r.url, r.params)).toBe(true);
        expect(tokenOf(r)).toEqual(expect.any(String));
      }
      expect(new Set(got.map(tokenOf)).size).toBe(got.length);
      const final = await sdk.client.messages(sid).fetch();
      expect(final.status).toBe(statuses.at(-1));
      expect(final.errorCode ?? undefined).toBe(errorCode && Number(errorCode));
    });

    it('fails validateRequest when one byte of a param, or the URL, changes', async () => {
      await send('+15557654321');
      await server.whenDeliveriesIdle();
      const [r] = receiver.received;
      const flip = (s: string) =>
        s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) ^ 1);
      for (const key of Object.keys(r.params)) {
        expect(
          twilio.validateRequest(TOKEN, sigOf(r), r.url, {
            ...r.params,
            [key]: flip(r.params[key]),
          }),
        ).toBe(false);
      }
      expect(twilio.validateRequest(TOKEN, sigOf(r), r.url.replace('x=1', 'x=2'), r.params)).toBe(
        false,
      );
      expect(twilio.validateRequest(TOKEN, flip(sigOf(r)), r.url, r.params)).toBe(false);
    });

    it('redelivers after a non-2xx with the same body, signature and idempotency token', async () => {
      receiver.script('/cb/15557654321', [500]);
      await send('+15557654321');
      await server.whenDeliveriesIdle();
      const got = receiver.on('/cb/15557654321');
      expect(got).toHaveLength(4);
      const queued = got.filter((r) => r.params.MessageStatus === 'queued');
      expect(queued).toHaveLength(2);
      expect(queued[1].body).toBe(queued[0].body);
      expect(sigOf(queued[1])).toBe(sigOf(queued[0]));
      expect(tokenOf(queued[1])).toBe(tokenOf(queued[0]));
      const record = server.deliveries().find((d) => d.body === queued[0].body);
      expect(record?.attempts.map((a) => a.status)).toEqual([500, 200]);
      expect(record?.delivered).toBe(true);
    });

    it('triggers a duplicate and a late callback through the control API', async () => {
      const sid = await send('+15557654321');
      await server.whenDeliveriesIdle();
      const delivered = receiver.received.find((r) => r.params.MessageStatus === 'delivered');
      const post = (body: unknown) =>
        fetch(`${base}/__sandbox/trigger`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect(
        (
          await post({
            messageSid: sid,
            status: 'delivered',
            idempotencyToken: tokenOf(delivered!),
          })
        ).status,
      ).toBe(200);
      expect((await post({ messageSid: sid, status: 'sent' })).status).toBe(200);
      expect((await post({ messageSid: 'SMnope', status: 'sent' })).status).toBe(400);
      await server.whenDeliveriesIdle();
      const [dup, late] = receiver.received.slice(-2);
      expect(dup.body).toBe(delivered!.body);
      expect(tokenOf(dup)).toBe(tokenOf(delivered!));
      expect(late.params.MessageStatus).toBe('sent');
      expect(twilio.validateRequest(TOKEN, sigOf(late), late.url, late.params)).toBe(true);
      expect((await sdk.client.messages(sid).fetch()).status).toBe('delivered');
    });

    it('posts a signed inbound SMS on trigger', async () => {
      const url = `${receiver.base}/inbound`;
      const result = server.trigger({
        inbound: { from: '+15557654321', to: TWILIO_VALID_FROM, body: 'STOP', url },
      }) as {
        messageSid: string;
      };
      await server.whenDeliveriesIdle();
      const [r] = receiver.on('/inbound');
      expect(r.params).toMatchObject({
        MessageSid: result.messageSid,
        AccountSid: ACCOUNT,
        From: '+15557654321',
        To: TWILIO_VALID_FROM,
        Body: 'STOP',
        NumMedia: '0',
      });
      expect(twilio.validateRequest(TOKEN, sigOf(r), url, r.params)).toBe(true);
      expect(twilio.validateRequest(TOKEN, sigOf(r), url, { ...r.params, Body: 'STOQ' })).toBe(
        false,
      );
      expect(tokenOf(r)).toEqual(expect.any(String));
      const state = (await (await fetch(`${base}/__sandbox/state`)).json()) as {
        messages: Record<string, unknown>[];
      };
      expect(state.messages).toHaveLength(1);
      const { status_callback: _url, callbacks: _sent, ...resource } = state.messages[0];
      validateMessage(resource);
      expect(resource).toMatchObject({ direction: 'inbound', status: 'received', body: 'STOP' });
    });
  });

  describe('faults through the SDK', () => {
    const create = (client = sdk.client) =>
      client.messages.create({ to: '+15557654321', from: TWILIO_VALID_FROM, body: 'x' });

    it('429 → RestException 429/20429 with Retry-After', async () => {
      server.queueFaults([{ kind: 'rate_limit' }]);
      const err = await catchError(create());
      expect(err).toBeInstanceOf(twilio.RestException);
      expect(err).toMatchObject({ status: 429, code: 20429 });
      lastError();
      expect(sdk.last().headers['retry-after']).toBe('1');
    });

    it('429 is retried by the SDK when autoRetry is on', async () => {
      const retrying = sdkFor(base, { autoRetry: true });
      server.queueFaults([{ kind: 'rate_limit' }]);
      await expect(create(retrying.client)).resolves.toMatchObject({ status: 'queued' });
      expect(server.requests().map((r) => r.status)).toEqual(['rate_limit', 201]);
    });

    it.each([
      ['server_error', 500, 20500],
      ['unavailable', 503, 20503],
    ] as const)('%s → RestException %d/%d', async (kind, status, code) => {
      server.queueFaults([{ kind }]);
      const err = await catchError(create());
      expect(err).toMatchObject({ status, code });
      lastError();
    });

    it('reset → a network error, not a RestException', async () => {
      server.queueFaults([{ kind: 'reset' }]);
      const err = await catchError(create());
      expect(err).not.toBeInstanceOf(twilio.RestException);
      expect(err.code).toBe('ECONNRESET');
    });

    it('hang → the SDK times out', async () => {
      const impatient = sdkFor(base, { timeout: 100 });
      server.queueFaults([{ kind: 'hang' }]);
      const err = await catchError(create(impatient.client));
      expect(err).not.toBeInstanceOf(twilio.RestException);
      expect(err.code).toBe('ECONNABORTED');
    });

    it('latency delays the answer but it still succeeds', async () => {
      server.queueFaults([{ kind: 'latency', ms: 60 }]);
      const started = performance.now();
      await expect(create()).resolves.toMatchObject({ status: 'queued' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    });
  });
});
