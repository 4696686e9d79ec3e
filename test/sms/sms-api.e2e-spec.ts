import { Writable } from 'node:stream';
import twilio from 'twilio';
import { SmsController } from '../../src/sms/sms.controller';
import { bearer, KEYS, startTestApp, TestApp } from '../helpers/app';
import { createTestDatabase, describeEachDialect, TestDatabase } from '../helpers/databases';
import {
  ACCOUNT_SID,
  AUTH_TOKEN,
  FROM,
  settle,
  SMS_TEST_ENV,
  SmsTestApp,
  startSmsApp,
  startTwilioSandbox,
  TO,
  TwilioSandbox,
  WEBHOOK_PATH,
} from './sms-test-app';

const SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;

describeEachDialect(SmsController.name, (target) => {
  let database: TestDatabase;
  let sandbox: TwilioSandbox;
  let sut: SmsTestApp;
  const logLines: string[] = [];

  const post = (body: unknown, headers?: Record<string, string>) => sut.post(body, headers);
  const expectInvalid = async (body: unknown, field: string) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, code: 'validation_failed' });
    expect(res.json().details).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
  };

  beforeAll(async () => {
    database = await target.create();
    sandbox = await startTwilioSandbox();
    sut = await startSmsApp({
      database,
      twilioUrl: sandbox.url,
      env: { LOG_LEVEL: 'info' },
      logDestination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
  });
  afterAll(async () => {
    await sut?.close();
    await sandbox?.server.stop();
    await database?.drop();
  });
  afterEach(() => settle(sut, sandbox));

  describe('POST /sms', () => {
    it('needs an API key with the sms scope', async () => {
      const none = await post({ to: TO, body: 'hi' }, { authorization: '' });
      expect(none.statusCode).toBe(401);
      expect(none.json().code).toBe('unauthorized');
      for (const key of [KEYS.payments, KEYS.admin]) {
        const res = await post({ to: TO, body: 'hi' }, bearer(key));
        expect(res.statusCode).toBe(403);
        expect(res.json().code).toBe('forbidden');
      }
      expect((await post({ to: TO, body: 'hi' }, bearer(KEYS.all))).statusCode).toBe(202);
    });

    it.each([
      '15551234567',
      '+05551234567',
      '+123456',
      '+1234567890123456',
      '+1 555 123 4567',
      42,
      null,
    ])('refuses to=%p', (to) => expectInvalid({ to, body: 'hi' }, 'to'));

    it('refuses a bad from, an unknown field, and a missing body', async () => {
      await expectInvalid({ to: TO, body: 'hi', from: 'Switchboard' }, 'from');
      await expectInvalid(
        { to: TO, body: 'hi', mediaUrl: 'https://example.com/a.png' },
        'mediaUrl',
      );
      await expectInvalid({ to: TO }, 'body');
    });

    it('counts the body in Unicode code points: 1–1600', async () => {
      await expectInvalid({ to: TO, body: '' }, 'body');
      await expectInvalid({ to: TO, body: 'a'.repeat(1601) }, 'body');
      await expectInvalid({ to: TO, body: '😀'.repeat(1601) }, 'body');
      await expectInvalid({ to: TO, body: 12 }, 'body');
      // 1600 emoji are 3200 UTF-16 units, and still 1600 characters.
      const res = await post({ to: TO, body: '😀'.repeat(1600) });
      expect(res.statusCode).toBe(202);
      expect([...res.json<{ body: string }>().body]).toHaveLength(1600);
    });

    it('takes up to 50 metadata string pairs (keys ≤ 40, values ≤ 500 characters)', async () => {
      const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
      await expectInvalid({ to: TO, body: 'hi', metadata: many }, 'metadata');
      await expectInvalid({ to: TO, body: 'hi', metadata: { ['k'.repeat(41)]: 'v' } }, 'metadata');
      await expectInvalid({ to: TO, body: 'hi', metadata: { k: 'v'.repeat(501) } }, 'metadata');
      await expectInvalid({ to: TO, body: 'hi', metadata: { k: 1 } }, 'metadata');
      await expectInvalid({ to: TO, body: 'hi', metadata: ['a'] }, 'metadata');
      const max = Object.fromEntries(
        Array.from({ length: 50 }, (_, i) => [`${i}`.padEnd(40, 'k'), 'v'.repeat(500)]),
      );
      const res = await post({ to: TO, body: 'hi', metadata: max });
      expect(res.statusCode).toBe(202);
      expect(res.json().metadata).toEqual(max);
    });

    it('answers malformed JSON with validation_failed', async () => {
      const res = await sut.app.inject({
        method: 'POST',
        url: '/sms',
        payload: '{"to": "+1555',
        headers: { 'content-type': 'application/json', ...bearer(KEYS.sms) },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    });

    it('stores the message and its job together, and replays an idempotent retry', async () => {
      const body = { to: TO, body: 'once only', metadata: { ref: 'idem' } };
      const key = { 'idempotency-key': `sms-${Date.now()}` };
      const first = await post(body, key);
      const again = await post(body, key);
      expect(first.statusCode).toBe(202);
      expect(again.statusCode).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);

      const { id } = first.json<{ id: string }>();
      const rows = await sut.db
        .selectFrom('sms_messages')
        .select('id')
        .where('body', '=', 'once only')
        .execute();
      expect(rows).toEqual([{ id }]);
      const jobs = await sut.db
        .selectFrom('jobs')
        .select('id')
        .where('payload', 'like', `%${id}%`)
        .execute();
      expect(jobs).toHaveLength(1);

      const other = await post({ ...body, body: 'something else' }, key);
      expect(other.statusCode).toBe(422);
      expect(other.json().code).toBe('idempotency_key_reused');
    });

    it('uses the from the client names', async () => {
      const res = await post({ to: TO, body: 'hi', from: FROM });
      await settle(sut, sandbox);
      const form = new URLSearchParams(sandbox.server.requests().at(-1)?.body);
      expect(form.get('From')).toBe(FROM);
      expect((await sut.get(`/sms/${res.json().id}`)).json()).toMatchObject({
        from: FROM,
        status: 'delivered',
      });
    });

    it('never logs the body or the whole phone number', async () => {
      logLines.length = 0;
      await post({ to: '+15559876543', body: 'secret one-time code 987654' });
      await settle(sut, sandbox);
      const log = logLines.join('');
      expect(log).toContain('"msg":"sms queued"');
      expect(log).toContain('+*******6543');
      expect(log).not.toContain('+15559876543');
      expect(log).not.toContain('987654');
      expect(log).not.toContain(AUTH_TOKEN);
    });
  });

  describe('GET /sms', () => {
    it('answers 404 for an unknown or malformed id', async () => {
      for (const id of ['sms_00000000000000000000000000', 'nope', 'pay_123']) {
        const res = await sut.get(`/sms/${id}`);
        expect(res.statusCode).toBe(404);
        expect(res.json().code).toBe('not_found');
      }
    });

    it('lists newest first, by status, page by page', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await post({ to: TO, body: `page ${i}` })).json().id);
      ids.push((await post({ to: '+15005550001', body: 'refused' })).json().id);
      await settle(sut, sandbox);

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await sut.get(`/sms?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode).toBe(200);
        const page = res.json<{
          data: { id: string; events: unknown[] }[];
          nextCursor: string | null;
        }>();
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((m) => m.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual([...seen].sort().reverse());
      expect(seen.slice(0, 4)).toEqual([...ids].reverse());

      const failed = (await sut.get('/sms?status=failed&limit=100')).json();
      expect(failed.data.map((m: { id: string }) => m.id)).toContain(ids[3]);
      expect(failed.data.every((m: { status: string }) => m.status === 'failed')).toBe(true);
      const delivered = (await sut.get('/sms?status=delivered&limit=100')).json();
      expect(delivered.data.find((m: { id: string }) => m.id === ids[0]).events).toHaveLength(3);
    });

    it.each(['status=lost', 'limit=0', 'limit=101', 'limit=x', 'cursor=not-a-cursor', 'sort=asc'])(
      'answers 400 for ?%s',
      async (query) => {
        const res = await sut.get(`/sms?${query}`);
        expect(res.statusCode).toBe(400);
        expect(res.json().code).toBe('validation_failed');
      },
    );
  });

  it('is described in the OpenAPI document', async () => {
    const res = await sut.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    const doc = res.json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/sms', '/sms/{id}', '/webhooks/twilio']),
    );
    expect(doc.paths['/sms'].post.responses['202']).toBeDefined();
  });
});

describe(`${SmsController.name} configuration`, () => {
  let database: TestDatabase;
  let app: TestApp | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(() => database.drop());

  const start = (env: Record<string, string>) =>
    startTestApp({
      env: { DATABASE_URL: database.url, ...env },
    }).then((a) => (app = a));

  it('answers 503 provider_disabled on every SMS route when Twilio is not configured', async () => {
    const { app: nest } = await start({});
    const headers = { 'content-type': 'application/json', ...bearer(KEYS.sms) };
    const responses = [
      await nest.inject({
        method: 'POST',
        url: '/sms',
        payload: JSON.stringify({ to: TO, body: 'hi' }),
        headers,
      }),
      await nest.inject({ method: 'GET', url: '/sms', headers }),
      await nest.inject({ method: 'GET', url: '/sms/sms_00000000000000000000000000', headers }),
      await nest.inject({
        method: 'POST',
        url: WEBHOOK_PATH,
        payload: 'MessageSid=SM1&MessageStatus=sent',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' },
      }),
    ];
    for (const res of responses) {
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ statusCode: 503, code: 'provider_disabled' });
    }
    // Authentication still comes first.
    const anonymous = await nest.inject({ method: 'GET', url: '/sms' });
    expect(anonymous.statusCode).toBe(401);
  });

  it('checks signatures against PUBLIC_BASE_URL behind a proxy, whatever Host and X-Forwarded-* say', async () => {
    const publicBase = 'https://sms.example.test/switchboard';
    const { app: nest } = await start({
      ...SMS_TEST_ENV,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
      PUBLIC_BASE_URL: `${publicBase}/`,
      TRUST_PROXY: 'true',
    });
    // The proxy strips the prefix; Twilio signed the public URL, query as it was sent.
    const path = `${WEBHOOK_PATH}?tenant=a%20b&x='y'`;
    const params = {
      AccountSid: ACCOUNT_SID,
      MessageSid: 'SM00000000000000000000000000000001',
      MessageStatus: 'sent',
    };
    const body = new URLSearchParams(params).toString();
    const deliver = (signedUrl: string) =>
      nest.inject({
        method: 'POST',
        url: path,
        payload: body,
        headers: {
          host: '10.0.0.7:3000',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'sms.example.test',
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilio.getExpectedTwilioSignature(AUTH_TOKEN, signedUrl, params),
        },
      });

    const ok = await deliver(`${publicBase}${path}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toBe('text/xml');
    expect(ok.body).toBe('<Response/>');
    for (const wrong of [
      `https://sms.example.test${path}`,
      `http://10.0.0.7:3000${path}`,
      `${publicBase}${WEBHOOK_PATH}`,
      `${publicBase}${WEBHOOK_PATH}?tenant=a b&x='y'&extra=1`,
    ]) {
      expect((await deliver(wrong)).statusCode).toBe(400);
    }
  });

  it('sends through the Messaging Service when both senders are configured', async () => {
    const sandbox = await startTwilioSandbox();
    try {
      const sms = await startSmsApp({
        database,
        twilioUrl: sandbox.url,
        env: { TWILIO_MESSAGING_SERVICE_SID: SERVICE_SID },
      });
      app = sms;
      const res = await sms.post({ to: TO, body: 'via service' });
      expect(res.json()).toMatchObject({ status: 'queued', from: null });
      await settle(sms, sandbox);

      const form = new URLSearchParams(sandbox.server.requests()[0].body);
      expect(form.get('MessagingServiceSid')).toBe(SERVICE_SID);
      expect(form.has('From')).toBe(false);
      // The sender Twilio picked arrives with the callbacks.
      expect((await sms.get(`/sms/${res.json().id}`)).json()).toMatchObject({
        status: 'delivered',
        from: FROM,
      });
    } finally {
      await sandbox.server.stop();
    }
  });
});
