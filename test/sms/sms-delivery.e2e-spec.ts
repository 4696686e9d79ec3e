import { randomBytes, randomUUID } from 'node:crypto';
import twilio from 'twilio';
import {
  TWILIO_FAILED_TO,
  TWILIO_MAGIC_TO,
  TWILIO_RETRY_AFTER_SECONDS,
  TWILIO_UNDELIVERED_TO,
} from '../../src/sandbox/twilio/twilio.emulator';
import { Clock } from '../../src/common/clock';
import { SmsRepository } from '../../src/sms/sms.repository';
import { SmsService, UNKNOWN_OUTCOME_RETRY_MS } from '../../src/sms/sms.service';
import { compileRequestBody } from '../sandbox/openapi';
import { KEYS } from '../helpers/app';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { queueTargets } from '../helpers/test-mode';
import {
  AUTH_TOKEN,
  FROM,
  nextJobEvent,
  settle,
  SmsTestApp,
  startSmsApp,
  startTwilioSandbox,
  TO,
  TwilioSandbox,
  WEBHOOK_PATH,
} from './sms-test-app';

const validateCreateForm = compileRequestBody(
  'twilio/twilio_api_v2010.json',
  '/2010-04-01/Accounts/{AccountSid}/Messages.json',
  'post',
  { coerceTypes: true },
);

describeEachDialect(`${SmsService.name} delivery`, (target) => {
  describe.each(queueTargets())('jobs: $driver', ({ env }) => {
    let database: TestDatabase;
    let sandbox: TwilioSandbox;
    let sut: SmsTestApp;

    /** Moves our clock ahead of the wall clock (jobs come due by it); it never moves back. */
    let clockOffsetMs = 0;
    const advance = (ms: number): void => {
      clockOffsetMs += ms;
    };

    const send = async (body: Record<string, unknown> = {}) => {
      const res = await sut.post({ to: TO, body: 'Your code is 123456', ...body });
      expect(res.statusCode).toBe(202);
      return res.json<{ id: string; status: string }>();
    };
    const message = async (id: string) => {
      const res = await sut.get(`/sms/${id}`);
      expect(res.statusCode).toBe(200);
      return res.json();
    };
    const webhookRows = () =>
      sut.db.selectFrom('webhook_events').selectAll().where('provider', '=', 'twilio').execute();
    const sendJob = (id: string) =>
      sut.db
        .selectFrom('jobs')
        .selectAll()
        .where('type', '=', 'sms.send')
        .where('payload', 'like', `%${id}%`)
        .executeTakeFirstOrThrow();
    /** A message Twilio has accepted (as the send job leaves it), whose callbacks we post ourselves. */
    const acceptedFixture = async (providerId = `SM${randomBytes(16).toString('hex')}`) => {
      const now = new Date().toISOString();
      const row = {
        id: `sms_${'0'.repeat(10)}${randomBytes(8).toString('hex')}`,
        to_number: TO,
        from_number: FROM,
        body: 'fixture',
        status: 'sent' as const,
        provider_id: providerId,
        error_code: null,
        error_message: null,
        provider_error: null,
        attempts: 1,
        metadata: '{}',
        created_at: now,
        updated_at: now,
      };
      await sut.db.insertInto('sms_messages').values(row).execute();
      return { id: row.id, providerId: row.provider_id };
    };
    const twilioPosts = () =>
      sandbox.server
        .requests()
        .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'));

    beforeAll(async () => {
      database = await target.create();
      sandbox = await startTwilioSandbox();
      sut = await startSmsApp({ database, twilioUrl: sandbox.url, env });
      jest
        .spyOn(sut.app.get(Clock), 'now')
        .mockImplementation(() => new Date(Date.now() + clockOffsetMs));
    });
    afterAll(async () => {
      await sut?.close();
      await sandbox?.server.stop();
      await database?.drop();
    });
    beforeEach(async () => {
      await settle(sut, sandbox);
      sandbox.server.reset();
      sut.waits.mockClear();
    });

    it('answers 202 queued, then the message is sent, then delivered through signed callbacks', async () => {
      const accepted = await send({ metadata: { order: '42' } });
      expect(accepted).toMatchObject({
        status: 'queued',
        to: TO,
        from: FROM,
        providerId: null,
        attempts: 0,
        events: [],
        metadata: { order: '42' },
      });

      await sut.jobs.whenIdle();
      const sent = await message(accepted.id);
      expect(['sent', 'delivered']).toContain(sent.status);
      expect(sent.providerId).toMatch(/^SM[0-9a-f]{32}$/);
      expect(sent.attempts).toBe(1);

      // The real SDK's request, as Twilio's spec describes it, with our callback URL and sender.
      const [post] = twilioPosts();
      const form = Object.fromEntries(new URLSearchParams(post.body));
      validateCreateForm.assert(form, 'Messages.json form');
      expect(form).toEqual({
        To: TO,
        From: FROM,
        Body: 'Your code is 123456',
        // Naming the message, so a callback finds it even when Twilio's answer was lost.
        StatusCallback: `${sut.publicUrl}${WEBHOOK_PATH}?message=${accepted.id}`,
      });

      await settle(sut, sandbox);
      const delivered = await message(accepted.id);
      expect(delivered).toMatchObject({ status: 'delivered', errorCode: null, attempts: 1 });
      expect(delivered.events.map((e: { status: string }) => e.status)).toEqual([
        'queued',
        'sent',
        'delivered',
      ]);
      for (const e of delivered.events) expect(Date.parse(e.at)).not.toBeNaN();

      const rows = await webhookRows();
      expect(rows.map((r) => r.type).sort()).toEqual([
        'message.status.delivered',
        'message.status.queued',
        'message.status.sent',
      ]);
      expect(rows.every((r) => r.status === 'processed')).toBe(true);
      // Each callback was answered 200 at the first attempt.
      expect(sandbox.server.deliveries().map((d) => d.attempts.map((a) => a.status))).toEqual([
        [200],
        [200],
        [200],
      ]);
    });

    it.each([
      ['+15005550001', 21211],
      ['+15005550009', 21614],
    ])("fails at once with Twilio's code when Twilio refuses %s", async (to, code) => {
      const accepted = await send({ to });
      await sut.jobs.whenIdle();

      const failed = await message(accepted.id);
      expect(failed).toMatchObject({
        status: 'failed',
        errorCode: String(code),
        providerId: null,
        attempts: 1,
      });
      // Our wording, not Twilio's (which quotes the number back).
      expect(failed.errorMessage).not.toBe(TWILIO_MAGIC_TO[to].message);
      expect(failed.errorMessage).not.toContain(to);
      expect(await sendJob(accepted.id)).toMatchObject({ status: 'done', attempts: 1 });
      expect(twilioPosts()).toHaveLength(1);
    });

    it.each([
      [TWILIO_UNDELIVERED_TO, 'undelivered', '30005', ['queued', 'sent', 'undelivered']],
      [TWILIO_FAILED_TO, 'failed', '30006', ['queued', 'failed']],
    ])('ends %s when the callbacks say so', async (to, status, errorCode, events) => {
      const accepted = await send({ to });
      await settle(sut, sandbox);
      const done = await message(accepted.id);
      expect(done).toMatchObject({ status, errorCode });
      expect(done.errorMessage).toEqual(expect.any(String));
      expect(done.events.map((e: { status: string }) => e.status)).toEqual(events);
    });

    it('retries a 429 after the Retry-After Twilio names, then sends', async () => {
      sandbox.server.queueFaults([{ kind: 'rate_limit' }]);
      const accepted = await send();
      await settle(sut, sandbox);

      expect(await message(accepted.id)).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(sut.waits.mock.calls).toEqual([[TWILIO_RETRY_AFTER_SECONDS * 1000]]);
      expect(twilioPosts().map((r) => r.status)).toEqual(['rate_limit', 201]);
    });

    it('retries 500 and 503 until Twilio answers', async () => {
      sandbox.server.queueFaults([{ kind: 'server_error' }, { kind: 'unavailable' }]);
      const accepted = await send();
      await settle(sut, sandbox);

      expect(await message(accepted.id)).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(twilioPosts().map((r) => r.status)).toEqual(['server_error', 'unavailable', 201]);
    });

    it('hands a longer outage to the job queue, which retries the send later', async () => {
      // PROVIDER_MAX_RETRIES=2: three failed requests end the first job attempt.
      sandbox.server.queueFaults([
        { kind: 'server_error' },
        { kind: 'server_error' },
        { kind: 'server_error' },
      ]);
      const accepted = await send();
      await settle(sut, sandbox);

      expect(await message(accepted.id)).toMatchObject({ status: 'delivered', attempts: 4 });
      expect(await sendJob(accepted.id)).toMatchObject({ status: 'done', attempts: 2 });
    });

    it('waits after a request Twilio did not answer, then sends again when no callback came', async () => {
      sandbox.server.queueFaults([{ kind: 'hang' }]);
      const accepted = await send();
      await sut.jobs.whenIdle();

      // Twilio may have it: no quick retry, and the job waits for a callback first.
      expect(twilioPosts().map((r) => r.status)).toEqual(['hang']);
      expect(await message(accepted.id)).toMatchObject({ providerId: null, attempts: 1 });
      const job = await sendJob(accepted.id);
      expect(job).toMatchObject({ status: 'failed', attempts: 1 });
      expect(Date.parse(job.run_at) - Date.parse(job.updated_at)).toBe(UNKNOWN_OUTCOME_RETRY_MS);

      advance(UNKNOWN_OUTCOME_RETRY_MS);
      await settle(sut, sandbox);
      expect(twilioPosts().map((r) => r.status)).toEqual(['hang', 201]);
      expect(await message(accepted.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    });

    it('does not send again when Twilio created the message but its answer was lost', async () => {
      sandbox.server.queueFaults([{ kind: 'lost_response' }]);
      const accepted = await send();
      await settle(sut, sandbox);

      // Twilio's callbacks named our message: its SID is bound without the lost answer.
      const [created] = sandbox.emulator.state().messages;
      expect(await message(accepted.id)).toMatchObject({
        providerId: created.sid,
        status: 'delivered',
      });

      advance(UNKNOWN_OUTCOME_RETRY_MS);
      await settle(sut, sandbox);
      expect(twilioPosts().map((r) => r.status)).toEqual(['lost_response']);
      expect(sandbox.emulator.state().messages).toHaveLength(1);
      expect(await sendJob(accepted.id)).toMatchObject({ status: 'done', attempts: 2 });
      const callbacks = (await webhookRows()).filter((r) => r.payload.includes(accepted.id));
      expect(callbacks.length).toBeGreaterThan(0);
      expect(callbacks.every((r) => r.status === 'processed')).toBe(true);
    });

    it('does not send again when Twilio took the message but recording its answer failed', async () => {
      const repo = sut.app.get(SmsRepository);
      const record = jest
        .spyOn(repo, 'markAccepted')
        .mockRejectedValueOnce(new Error('the database blinked'));
      try {
        const accepted = await send();
        await settle(sut, sandbox);
        advance(UNKNOWN_OUTCOME_RETRY_MS);
        await settle(sut, sandbox);

        expect(twilioPosts().map((r) => r.status)).toEqual([201]);
        expect(await message(accepted.id)).toMatchObject({
          providerId: sandbox.emulator.state().messages[0].sid,
          status: 'delivered',
          attempts: 1,
        });
        expect(await sendJob(accepted.id)).toMatchObject({ status: 'done', attempts: 2 });
      } finally {
        record.mockRestore();
      }
    });

    it('keeps trying while the connection is refused, and delivers once Twilio is back', async () => {
      await sandbox.server.stop();
      let waits = 0;
      sut.waits.mockImplementation(async () => {
        // Twilio comes back during the second pause.
        if (++waits === 2) await sandbox.server.start();
      });
      const accepted = await send();
      await settle(sut, sandbox);

      expect(await message(accepted.id)).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(twilioPosts()).toHaveLength(1);
    });

    it('fails with provider_unavailable when every attempt is refused', async () => {
      await sandbox.server.stop();
      try {
        const accepted = await send();
        await sut.jobs.whenIdle();

        const failed = await message(accepted.id);
        // JOB_MAX_ATTEMPTS=4 job attempts × (1 + PROVIDER_MAX_RETRIES=2) requests.
        expect(failed).toMatchObject({
          status: 'failed',
          errorCode: 'provider_unavailable',
          providerId: null,
          attempts: 12,
        });
        expect(failed.errorMessage).toEqual(expect.any(String));
        expect(await sendJob(accepted.id)).toMatchObject({ status: 'dead', attempts: 4 });
      } finally {
        await sandbox.server.start();
      }
    });

    it('never moves the status back on late or out-of-order callbacks, but records them', async () => {
      const accepted = await send();
      await settle(sut, sandbox);
      const { providerId } = await message(accepted.id);

      for (const status of ['sent', 'queued', 'failed', 'read'] as const) {
        sandbox.server.trigger({ messageSid: providerId, status });
      }
      await settle(sut, sandbox);

      const after = await message(accepted.id);
      expect(after).toMatchObject({ status: 'delivered', errorCode: null });
      expect(after.events.map((e: { status: string }) => e.status)).toEqual([
        'queued',
        'sent',
        'delivered',
        'sent',
        'queued',
        'failed',
        'read',
      ]);
    });

    it('moves forward when callbacks arrive out of order, and never back', async () => {
      const { id, providerId } = await acceptedFixture();
      // delivered overtakes sending and queued; then the late ones arrive.
      for (const status of ['delivered', 'sending', 'queued', 'sent']) {
        const res = await sut.webhook({
          MessageSid: providerId,
          MessageStatus: status,
          From: FROM,
          To: TO,
        });
        expect(res.statusCode).toBe(200);
        await sut.jobs.whenIdle();
        expect(await message(id)).toMatchObject({ status: 'delivered' });
      }
      expect((await message(id)).events.map((e: { status: string }) => e.status)).toEqual([
        'delivered',
        'sending',
        'queued',
        'sent',
      ]);
    });

    it('fails a message Twilio cancels, with a reason', async () => {
      const { id, providerId } = await acceptedFixture();
      expect(
        (await sut.webhook({ MessageSid: providerId, MessageStatus: 'canceled' })).statusCode,
      ).toBe(200);
      await sut.jobs.whenIdle();
      expect(await message(id)).toMatchObject({
        status: 'failed',
        errorCode: null,
        errorMessage: 'Twilio reported the message canceled',
      });
    });

    it('keeps a callback for a SID it does not know yet, retries it, and applies it on replay', async () => {
      const providerId = `SM${randomBytes(16).toString('hex')}`;
      const dead = nextJobEvent(sut, 'webhook.process', 'dead');
      expect(
        (await sut.webhook({ MessageSid: providerId, MessageStatus: 'delivered' })).statusCode,
      ).toBe(200);
      await dead;
      const [event] = (await webhookRows()).filter((r) => r.event_id === `${providerId}:delivered`);
      // JOB_MAX_ATTEMPTS=4, retried at once in tests: dead, for an operator to see.
      expect(event).toMatchObject({ status: 'dead', attempts: 4 });

      const { id } = await acceptedFixture(providerId);
      const processed = nextJobEvent(sut, 'webhook.process', 'done');
      const replay = await sut.app.inject({
        method: 'POST',
        url: `/webhook-events/${event.id}/replay`,
        headers: { authorization: `Bearer ${KEYS.admin}` },
      });
      expect(replay.statusCode).toBe(202);
      await processed;
      expect(await message(id)).toMatchObject({ status: 'delivered' });
    });

    it('processes a duplicate callback once', async () => {
      const accepted = await send();
      await settle(sut, sandbox);
      const { providerId, events } = await message(accepted.id);
      const token = randomUUID();

      sandbox.server.trigger({ messageSid: providerId, status: 'read', idempotencyToken: token });
      sandbox.server.trigger({ messageSid: providerId, status: 'read', idempotencyToken: token });
      await settle(sut, sandbox);
      // Without a token, MessageSid:MessageStatus is the key.
      for (let i = 0; i < 2; i++) {
        const res = await sut.webhook({
          MessageSid: providerId,
          MessageStatus: 'undelivered',
          ErrorCode: '30003',
        });
        expect(res.statusCode).toBe(200);
      }
      await sut.jobs.whenIdle();

      const after = await message(accepted.id);
      expect(after.events).toHaveLength(events.length + 2);
      expect(after.events.slice(-2).map((e: { status: string }) => e.status)).toEqual([
        'read',
        'undelivered',
      ]);
      expect(after.status).toBe('delivered');
      const rows = await webhookRows();
      expect(rows.filter((r) => r.event_id === token)).toHaveLength(1);
      expect(rows.filter((r) => r.event_id === `${providerId}:undelivered`)).toHaveLength(1);
    });

    it('refuses forged, tampered and wrong-URL signatures with 400, and nothing changes', async () => {
      const { id, providerId } = await acceptedFixture();
      const before = await message(id);
      const rowsBefore = (await webhookRows()).length;
      const params = { MessageSid: providerId, MessageStatus: 'delivered', AccountSid: 'AC1' };
      const publicUrl = `${sut.publicUrl}${WEBHOOK_PATH}`;
      const sign = (url: string, token = AUTH_TOKEN) =>
        twilio.getExpectedTwilioSignature(token, url, params);
      const cases: Parameters<SmsTestApp['webhook']>[] = [
        // Signed with another auth token.
        [params, { signature: sign(publicUrl, 'x'.repeat(32)) }],
        // A param changed after signing, or one added.
        [{ ...params, MessageStatus: 'undelivered' }, { signature: sign(publicUrl) }],
        [{ ...params, ErrorCode: '30003' }, { signature: sign(publicUrl) }],
        // Signed for the URL the request's Host or X-Forwarded-* name, not the public one.
        [
          params,
          {
            signedUrl: `http://attacker.example${WEBHOOK_PATH}`,
            headers: { host: 'attacker.example' },
          },
        ],
        [
          params,
          {
            signedUrl: `https://proxy.example${WEBHOOK_PATH}`,
            headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'proxy.example' },
          },
        ],
        // Signed with a query string the request does not carry, or for another path.
        [params, { signedUrl: `${publicUrl}?tenant=a` }],
        [params, { signedUrl: `${sut.publicUrl}/webhooks/stripe` }],
        // Missing and malformed.
        [params, { signature: '' }],
        [params, { signature: 'not base64 at all' }],
      ];
      for (const [p, o] of cases) {
        const res = await sut.webhook(p, o);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ statusCode: 400, code: 'invalid_signature' });
      }
      await sut.jobs.whenIdle();
      expect((await webhookRows()).length).toBe(rowsBefore);
      expect(await message(id)).toEqual(before);

      // The same request, signed for the public URL, is accepted.
      expect((await sut.webhook(params)).statusCode).toBe(200);
      await sut.jobs.whenIdle();
      expect(await message(id)).toMatchObject({ status: 'delivered' });
    });

    it('stores an inbound message holding a NUL character, which PostgreSQL text cannot hold', async () => {
      const sid = `SM${randomBytes(16).toString('hex')}`;
      const res = await sut.webhook({
        MessageSid: sid,
        SmsStatus: 'received',
        From: '+15557654321',
        To: FROM,
        Body: 'a\u0000b',
      });
      expect(res.statusCode).toBe(200);
      await sut.jobs.whenIdle();

      const stored = await sut.db
        .selectFrom('sms_inbound_messages')
        .select('body')
        .where('provider_id', '=', sid)
        .executeTakeFirst();
      expect(stored).toEqual({ body: 'a\uFFFDb' });
    });

    it('stores an inbound message once and answers with empty TwiML', async () => {
      const result = sandbox.server.trigger({
        inbound: {
          from: '+15557654321',
          to: FROM,
          body: 'STOP',
          url: `${sut.publicUrl}${WEBHOOK_PATH}`,
        },
      }) as { messageSid: string };
      await settle(sut, sandbox);

      const stored = await sut.db
        .selectFrom('sms_inbound_messages')
        .selectAll()
        .where('provider_id', '=', result.messageSid)
        .executeTakeFirstOrThrow();
      expect(stored).toMatchObject({
        from_number: '+15557654321',
        to_number: FROM,
        body: 'STOP',
        num_media: 0,
      });
      const [row] = (await webhookRows()).filter((r) => r.type === 'message.inbound');
      expect(row.status).toBe('processed');

      const params = {
        MessageSid: result.messageSid,
        SmsStatus: 'received',
        From: '+15557654321',
        To: FROM,
        Body: 'STOP',
      };
      const repeat = await sut.webhook(params);
      expect(repeat.statusCode).toBe(200);
      expect(repeat.headers['content-type']).toBe('text/xml');
      expect(repeat.body).toBe('<Response/>');
      await sut.jobs.whenIdle();
      expect(
        await sut.db
          .selectFrom('sms_inbound_messages')
          .select('provider_id')
          .where('provider_id', '=', result.messageSid)
          .execute(),
      ).toHaveLength(1);
    });
  });
});
