import twilio from 'twilio';
import type { EmulatorContext, EmulatorRequest, OutgoingWebhook } from '../core/types';
import {
  TWILIO_FAILED_TO,
  TWILIO_MAGIC_FROM,
  TWILIO_MAGIC_TO,
  TWILIO_UNDELIVERED_TO,
  TWILIO_VALID_FROM,
  TwilioTriggerError,
  createTwilioEmulator,
} from './twilio.emulator';

const ACCOUNT = 'AC' + 'a'.repeat(32);
const TOKEN = 'f'.repeat(32);
const SERVICE = 'MG' + 'b'.repeat(32);
const MESSAGES = `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;
const CALLBACK = 'https://app.example.com/webhooks/twilio?tenant=a%20b';
const RFC2822 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;

/** A hand-driven context: timers run only when the test flushes them, in order. */
function fakeContext() {
  const deliveries: OutgoingWebhook[] = [];
  let timers: (() => void)[] = [];
  const ctx: EmulatorContext = {
    now: () => new Date('2024-02-29T12:34:56Z'),
    deliver: (w) => deliveries.push(w),
    later: (_ms, fn) => timers.push(fn),
    baseUrl: () => 'http://127.0.0.1:1',
  };
  /** Run the timers scheduled so far (not the ones they schedule). */
  const tick = () => {
    const due = timers;
    timers = [];
    due.forEach((fn) => fn());
  };
  const flush = () => {
    while (timers.length > 0) tick();
  };
  return { ctx, deliveries, tick, flush };
}

function request(
  method: string,
  path: string,
  form?: Record<string, string | string[]>,
  auth = `${ACCOUNT}:${TOKEN}`,
) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form ?? {})) for (const x of [v].flat()) body.append(k, x);
  const req: EmulatorRequest = {
    method,
    path,
    query: new URLSearchParams(),
    headers: {
      authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    rawBody: Buffer.from(body.toString()),
  };
  return req;
}

const formOf = (w: OutgoingWebhook) => Object.fromEntries(new URLSearchParams(w.body));

describe(createTwilioEmulator.name, () => {
  let sut: ReturnType<typeof createTwilioEmulator>;
  let fake: ReturnType<typeof fakeContext>;
  const send = (form: Record<string, string | string[]>) =>
    sut.handle(request('POST', MESSAGES, form), fake.ctx);

  beforeEach(() => {
    sut = createTwilioEmulator({
      accountSid: ACCOUNT,
      authToken: TOKEN,
      validFrom: ['+15551230000'],
    });
    fake = fakeContext();
  });

  describe('auth and routing', () => {
    it.each([
      ['a wrong token', `${ACCOUNT}:${'0'.repeat(32)}`],
      ['a wrong account', `AC${'c'.repeat(32)}:${TOKEN}`],
    ])('answers 401/20003 for %s', (_name, auth) => {
      const res = sut.handle(request('POST', MESSAGES, { To: '+15551234567' }, auth), fake.ctx);
      expect(res.status).toBe(401);
      expect(res.headers?.['WWW-Authenticate']).toBe('Basic realm="Twilio API"');
      expect(res.body).toEqual({
        code: 20003,
        message: expect.any(String),
        more_info: 'https://www.twilio.com/docs/errors/20003',
        status: 401,
      });
    });

    it('answers 401 without an Authorization header', () => {
      const req = request('GET', MESSAGES);
      delete req.headers.authorization;
      expect(sut.handle(req, fake.ctx).status).toBe(401);
    });

    it('answers 404/20404 for another account in the path, an unknown route or message', () => {
      const other = `/2010-04-01/Accounts/AC${'c'.repeat(32)}/Messages.json`;
      for (const path of [
        other,
        '/2010-04-01/Accounts.json',
        `/2010-04-01/Accounts/${ACCOUNT}/Messages/SM${'0'.repeat(32)}.json`,
      ]) {
        const res = sut.handle(
          request(path.endsWith('Messages.json') ? 'POST' : 'GET', path),
          fake.ctx,
        );
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({
          code: 20404,
          status: 404,
          message: `The requested resource ${path} was not found`,
        });
      }
    });

    it('answers 405/20004 for a wrong method', () => {
      expect(sut.handle(request('DELETE', MESSAGES), fake.ctx).body).toMatchObject({
        code: 20004,
        status: 405,
      });
    });
  });

  describe('create', () => {
    it('answers 201 with the Message resource as Twilio serialises it', () => {
      const res = send({
        To: '+15551234567',
        From: TWILIO_VALID_FROM,
        Body: 'hello',
        StatusCallback: CALLBACK,
      });
      expect(res.status).toBe(201);
      const body = res.body as Record<string, unknown>;
      const sid = body.sid as string;
      expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
      expect(body).toEqual({
        account_sid: ACCOUNT,
        api_version: '2010-04-01',
        body: 'hello',
        date_created: 'Thu, 29 Feb 2024 12:34:56 +0000',
        date_sent: null,
        date_updated: 'Thu, 29 Feb 2024 12:34:56 +0000',
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: TWILIO_VALID_FROM,
        messaging_service_sid: null,
        num_media: '0',
        num_segments: '1',
        price: null,
        price_unit: 'USD',
        sid,
        status: 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${ACCOUNT}/Messages/${sid}/Media.json` },
        to: '+15551234567',
        uri: `/2010-04-01/Accounts/${ACCOUNT}/Messages/${sid}.json`,
      });
    });

    it('uses an MM sid and counts media for MMS', () => {
      const res = send({
        To: '+15551234567',
        From: TWILIO_VALID_FROM,
        MediaUrl: ['https://x/1.jpg', 'https://x/2.jpg'],
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        sid: expect.stringMatching(/^MM/),
        num_media: '2',
        body: '',
      });
    });

    it('accepts a configured From besides the magic one', () => {
      expect(send({ To: '+15551234567', From: '+15551230000', Body: 'x' }).status).toBe(201);
    });

    it('starts a Messaging Service message accepted, then assigns the sender at queued', () => {
      const res = send({ To: '+15551234567', MessagingServiceSid: SERVICE, Body: 'x'.repeat(200) });
      expect(res.body).toMatchObject({
        status: 'accepted',
        from: null,
        num_segments: '0',
        messaging_service_sid: SERVICE,
      });
      fake.flush();
      const sid = (res.body as { sid: string }).sid;
      expect(sut.message(sid)).toMatchObject({
        status: 'delivered',
        from: '+15551230000',
        num_segments: '2',
      });
    });

    it('only accepts configured Messaging Services when a list is given', () => {
      sut = createTwilioEmulator({
        accountSid: ACCOUNT,
        authToken: TOKEN,
        messagingServiceSids: [SERVICE],
      });
      expect(send({ To: '+15551234567', MessagingServiceSid: SERVICE, Body: 'x' }).status).toBe(
        201,
      );
      expect(
        send({ To: '+15551234567', MessagingServiceSid: `MG${'d'.repeat(32)}`, Body: 'x' }).body,
      ).toMatchObject({
        code: 21701,
      });
      expect(
        send({ To: '+15551234567', MessagingServiceSid: 'MGnope', Body: 'x' }).body,
      ).toMatchObject({ code: 21701 });
    });

    it.each([
      ['no To', { From: TWILIO_VALID_FROM, Body: 'x' }, 21604],
      ['no From nor MessagingServiceSid', { To: '+15551234567', Body: 'x' }, 21603],
      ['no Body nor MediaUrl', { To: '+15551234567', From: TWILIO_VALID_FROM }, 21602],
      ['an empty Body', { To: '+15551234567', From: TWILIO_VALID_FROM, Body: '' }, 21602],
      [
        'a Body over 1600 chars',
        { To: '+15551234567', From: TWILIO_VALID_FROM, Body: 'x'.repeat(1601) },
        21617,
      ],
      ['a malformed To', { To: '5551234567', From: TWILIO_VALID_FROM, Body: 'x' }, 21211],
      ['a From not ours', { To: '+15551234567', From: '+15557654321', Body: 'x' }, 21606],
      ['To equal to From', { To: TWILIO_VALID_FROM, From: TWILIO_VALID_FROM, Body: 'x' }, 21266],
      [
        'a bad StatusCallback',
        { To: '+15551234567', From: TWILIO_VALID_FROM, Body: 'x', StatusCallback: 'nope' },
        21609,
      ],
    ])('answers 400 for %s', (_name, form, code) => {
      const res = send(form);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        code,
        message: expect.any(String),
        more_info: `https://www.twilio.com/docs/errors/${code}`,
        status: 400,
      });
      expect(sut.state().messages).toHaveLength(0);
    });

    it('counts the 1600 limit in code points, not UTF-16 units', () => {
      expect(
        send({ To: '+15551234567', From: TWILIO_VALID_FROM, Body: '👍'.repeat(1600) }).status,
      ).toBe(201);
    });

    it.each(Object.entries(TWILIO_MAGIC_TO))(
      "answers Twilio's documented error for To %s",
      (to, { code }) => {
        const res = send({ To: to, From: TWILIO_VALID_FROM, Body: 'x' });
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ code, status: 400 });
      },
    );

    it.each(Object.entries(TWILIO_MAGIC_FROM))(
      "answers Twilio's documented error for From %s",
      (from, { code }) => {
        expect(send({ To: '+15551234567', From: from, Body: 'x' }).body).toMatchObject({
          code,
          status: 400,
        });
      },
    );
  });

  describe('status callbacks', () => {
    const create = (to: string, extra: Record<string, string> = {}) =>
      (
        send({ To: to, From: TWILIO_VALID_FROM, Body: 'hi', StatusCallback: CALLBACK, ...extra })
          .body as { sid: string }
      ).sid;

    it('progresses queued → sent → delivered, one step per timer, and GET follows', () => {
      const sid = create('+15551234567');
      const seen: [string | undefined, string | undefined][] = [];
      for (let i = 0; i < 4; i += 1) {
        seen.push([
          fake.deliveries.at(-1) && formOf(fake.deliveries.at(-1)!).MessageStatus,
          sut.message(sid)?.status,
        ]);
        fake.tick();
      }
      expect(seen).toEqual([
        [undefined, 'queued'],
        ['queued', 'queued'],
        ['sent', 'sent'],
        ['delivered', 'delivered'],
      ]);
      expect(fake.deliveries).toHaveLength(3);
      const got = sut.handle(
        request('GET', `/2010-04-01/Accounts/${ACCOUNT}/Messages/${sid}.json`),
        fake.ctx,
      );
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({
        sid,
        status: 'delivered',
        price: '-0.00790',
        error_code: null,
      });
      expect((got.body as { date_sent: string }).date_sent).toMatch(RFC2822);
    });

    it('signs each callback over exactly the StatusCallback URL, with a unique idempotency token', () => {
      const sid = create('+15551234567');
      fake.flush();
      const tokens = new Set<string>();
      for (const w of fake.deliveries) {
        expect(w.url).toBe(CALLBACK);
        expect(w.headers['Content-Type']).toBe('application/x-www-form-urlencoded');
        const params = formOf(w);
        expect(params).toEqual({
          ApiVersion: '2010-04-01',
          AccountSid: ACCOUNT,
          MessageSid: sid,
          SmsSid: sid,
          MessageStatus: params.MessageStatus,
          SmsStatus: params.MessageStatus,
          From: TWILIO_VALID_FROM,
          To: '+15551234567',
        });
        expect(
          twilio.validateRequest(TOKEN, w.headers['X-Twilio-Signature'], CALLBACK, params),
        ).toBe(true);
        expect(
          twilio.validateRequest(TOKEN, w.headers['X-Twilio-Signature'], CALLBACK, {
            ...params,
            To: '+15551234568',
          }),
        ).toBe(false);
        tokens.add(w.headers['I-Twilio-Idempotency-Token']);
      }
      expect(tokens.size).toBe(3);
    });

    it(`ends ${TWILIO_UNDELIVERED_TO} undelivered with ErrorCode 30005`, () => {
      const sid = create(TWILIO_UNDELIVERED_TO);
      fake.flush();
      expect(fake.deliveries.map((w) => [formOf(w).MessageStatus, formOf(w).ErrorCode])).toEqual([
        ['queued', undefined],
        ['sent', undefined],
        ['undelivered', '30005'],
      ]);
      expect(sut.message(sid)).toMatchObject({
        status: 'undelivered',
        error_code: 30005,
        error_message: expect.any(String),
      });
    });

    it(`ends ${TWILIO_FAILED_TO} failed with ErrorCode 30006, never sent`, () => {
      const sid = create(TWILIO_FAILED_TO);
      fake.flush();
      expect(fake.deliveries.map((w) => [formOf(w).MessageStatus, formOf(w).ErrorCode])).toEqual([
        ['queued', undefined],
        ['failed', '30006'],
      ]);
      expect(sut.message(sid)).toMatchObject({
        status: 'failed',
        error_code: 30006,
        date_sent: null,
        price: null,
      });
    });

    it('adds MessagingServiceSid when the message used one', () => {
      create('+15551234567', { MessagingServiceSid: SERVICE });
      fake.flush();
      expect(formOf(fake.deliveries[0]).MessagingServiceSid).toBe(SERVICE);
    });

    it('still progresses without a StatusCallback, delivering nothing', () => {
      const sid = (
        send({ To: '+15551234567', From: TWILIO_VALID_FROM, Body: 'x' }).body as { sid: string }
      ).sid;
      fake.flush();
      expect(fake.deliveries).toHaveLength(0);
      expect(sut.message(sid)?.status).toBe('delivered');
    });

    it('forgets messages on reset and ignores their pending steps', () => {
      create('+15551234567');
      sut.reset();
      fake.flush();
      expect(fake.deliveries).toHaveLength(0);
      expect(sut.state().messages).toEqual([]);
    });
  });

  describe('trigger', () => {
    let sid: string;
    beforeEach(() => {
      sid = (
        send({ To: '+15551234567', From: TWILIO_VALID_FROM, Body: 'hi', StatusCallback: CALLBACK })
          .body as { sid: string }
      ).sid;
      fake.flush();
      fake.deliveries.length = 0;
    });

    it('sends a late callback without moving the message back', () => {
      const result = sut.trigger({ messageSid: sid, status: 'sent' }, fake.ctx);
      expect(result).toEqual({
        messageSid: sid,
        status: 'sent',
        url: CALLBACK,
        idempotencyToken: expect.any(String),
      });
      expect(formOf(fake.deliveries[0]).MessageStatus).toBe('sent');
      expect(sut.message(sid)?.status).toBe('delivered');
    });

    it('reuses a given idempotency token to emulate a duplicate', () => {
      const first = sut.state().messages[0].callbacks[2];
      sut.trigger(
        { messageSid: sid, status: 'delivered', idempotencyToken: first.idempotencyToken },
        fake.ctx,
      );
      expect(fake.deliveries[0].headers['I-Twilio-Idempotency-Token']).toBe(first.idempotencyToken);
      expect(fake.deliveries[0].body).toBe(new URLSearchParams(first.params).toString());
    });

    it('moves a message forward and adds the ErrorCode', () => {
      sut = createTwilioEmulator({ accountSid: ACCOUNT, authToken: TOKEN, callbackDelayMs: 5 });
      const other = (
        send({ To: '+15551234567', From: TWILIO_VALID_FROM, Body: 'x', StatusCallback: CALLBACK })
          .body as { sid: string }
      ).sid;
      sut.trigger({ messageSid: other, status: 'undelivered', errorCode: 30003 }, fake.ctx);
      expect(sut.message(other)).toMatchObject({ status: 'undelivered', error_code: 30003 });
      expect(formOf(fake.deliveries[0])).toMatchObject({
        MessageStatus: 'undelivered',
        ErrorCode: '30003',
      });
    });

    it.each([
      ['a non-object', 'x'],
      ['an unknown message', { messageSid: 'SMnope', status: 'sent' }],
      ['an unknown status', { messageSid: 'SMx', status: 'lost' }],
      [
        'an inbound without url',
        { inbound: { from: '+15551234567', to: TWILIO_VALID_FROM, body: 'x' } },
      ],
    ])('rejects %s', (_name, body) => {
      expect(() => sut.trigger(body, fake.ctx)).toThrow(TwilioTriggerError);
    });

    it('posts an inbound SMS as Twilio does, signed, and records it', () => {
      const url = 'https://app.example.com/webhooks/twilio';
      const result = sut.trigger(
        {
          inbound: {
            from: '+15551234567',
            to: TWILIO_VALID_FROM,
            body: 'STOP',
            url,
            media: [{ url: 'https://x/1.jpg', contentType: 'image/jpeg' }],
          },
        },
        fake.ctx,
      );
      const w = fake.deliveries[0];
      const params = formOf(w);
      expect(params).toMatchObject({
        MessageSid: result.messageSid,
        SmsMessageSid: result.messageSid,
        AccountSid: ACCOUNT,
        From: '+15551234567',
        To: TWILIO_VALID_FROM,
        Body: 'STOP',
        NumMedia: '1',
        NumSegments: '1',
        SmsStatus: 'received',
        MediaUrl0: 'https://x/1.jpg',
        MediaContentType0: 'image/jpeg',
        ApiVersion: '2010-04-01',
      });
      expect(twilio.validateRequest(TOKEN, w.headers['X-Twilio-Signature'], url, params)).toBe(
        true,
      );
      expect(w.headers['I-Twilio-Idempotency-Token']).toBe(result.idempotencyToken);
      expect(sut.message(result.messageSid)).toMatchObject({
        direction: 'inbound',
        status: 'received',
      });
    });
  });

  describe('faults', () => {
    it.each([
      [429, 20429],
      [500, 20500],
      [503, 20503],
    ])('gives %d the Twilio error body %d', (status, code) => {
      expect(sut.errorBody(status)).toEqual({
        code,
        message: expect.any(String),
        more_info: `https://www.twilio.com/docs/errors/${code}`,
        status,
      });
    });

    it('adds Retry-After in seconds to a 429', () => {
      expect(sut.rateLimitHeaders()).toEqual({ 'Retry-After': '1' });
    });
  });
});
