import { EmailsController } from '../../src/email/emails.controller';
import type { EmailDto } from '../../src/email/dto/email.dto';
import { EMAIL_SEND_JOB } from '../../src/email/email-send.job';
import type { JobView } from '../../src/jobs/job-queue';
import {
  SENDGRID_BLOCKED_RECIPIENT,
  SENDGRID_BOUNCE_RECIPIENT,
  SENDGRID_DEFERRED_RECIPIENT,
  SENDGRID_DROPPED_RECIPIENT,
  type SendgridAcceptedMessage,
} from '../../src/sandbox/sendgrid/sendgrid.emulator';
import { bearer, KEYS } from '../helpers/app';
import type { TestDatabase } from '../helpers/databases';
import { compileRequestBody } from '../sandbox/openapi';
import {
  describeEachTarget,
  EmailTestApp,
  FROM_EMAIL,
  newSgEventId,
  startEmailTestApp,
  UNKNOWN_OUTCOME_RETRY_MS,
} from './email-test-app';

const ADA = 'ada@example.com';
const GRACE = 'grace@example.com';
const mailSendSchema = compileRequestBody('sendgrid/oai_v3_stoplight.json', '/mail/send', 'post');

describeEachTarget(EmailsController.name, (target, queueEnv) => {
  let database: TestDatabase;
  let sut: EmailTestApp;
  const logs: string[] = [];

  beforeAll(async () => {
    database = await target.create();
    sut = await startEmailTestApp(database, {
      env: { LOG_LEVEL: 'info', ...queueEnv },
      logDestination: { write: (line) => void logs.push(line) },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });
  beforeEach(() => {
    sut.server.reset();
    sut.emulator.setWebhookUrl(sut.webhookUrl);
    logs.length = 0;
  });

  const message = (overrides: Record<string, unknown> = {}) => ({
    to: ADA,
    subject: 'Your receipt',
    text: 'Thanks!',
    ...overrides,
  });

  async function queue(body: Record<string, unknown>): Promise<EmailDto> {
    const res = await sut.post(body);
    expect(res.statusCode).toBe(202);
    return res.json<EmailDto>();
  }

  /**
   * The Mail Send body SendGrid accepted for an email, checked against SendGrid's
   * OpenAPI spec (which cannot express that a template makes subject and content optional).
   */
  function sentRequest(emailId: string): Record<string, unknown> {
    const found = sut.emulator.state().messages.find((m: SendgridAcceptedMessage) => {
      const request = m.request as { personalizations: { custom_args?: Record<string, string> }[] };
      return request.personalizations[0]?.custom_args?.switchboard_email_id === emailId;
    });
    if (!found) throw new Error(`SendGrid never accepted ${emailId}`);
    const request = found.request as Record<string, unknown>;
    if (request.template_id === undefined) mailSendSchema.assert(request, 'Mail Send body');
    else
      mailSendSchema.assert({
        subject: 'from the template',
        content: [{ type: 'text/plain', value: '-' }],
        ...request,
      });
    return request;
  }

  async function sendJobOf(emailId: string): Promise<JobView | undefined> {
    const row = await sut.db
      .selectFrom('jobs')
      .select('id')
      .where('type', '=', EMAIL_SEND_JOB)
      .where('payload', '=', JSON.stringify({ emailId }))
      .executeTakeFirst();
    return row && sut.jobs.get(row.id);
  }

  describe('POST /emails', () => {
    it('answers 202 queued, with the row and its send job stored in one go', async () => {
      sut.emulator.setWebhookUrl(undefined);
      const before = await sut.jobsOf(EMAIL_SEND_JOB);
      const res = await sut.post(message({ metadata: { order: '42' } }));

      expect(res.statusCode).toBe(202);
      const email = res.json<EmailDto>();
      expect(email).toEqual({
        id: expect.stringMatching(/^eml_[0-9a-z]{26}$/),
        to: [ADA],
        subject: 'Your receipt',
        status: 'queued',
        recipients: [{ email: ADA, status: 'queued' }],
        providerMessageId: null,
        errorCode: null,
        errorMessage: null,
        attempts: 0,
        events: [],
        metadata: { order: '42' },
        createdAt: expect.any(String),
        updatedAt: email.createdAt,
      });
      const jobs = await sut.jobsOf(EMAIL_SEND_JOB);
      expect(jobs).toHaveLength(before.length + 1);
      const job = await sut.db
        .selectFrom('jobs')
        .select('payload')
        .where('type', '=', EMAIL_SEND_JOB)
        .where('payload', 'like', `%${email.id}%`)
        .executeTakeFirstOrThrow();
      expect(JSON.parse(job.payload)).toEqual({ emailId: email.id });
      await sut.settle();
    });

    it('goes 202 → sent → processed → delivered as SendGrid accepts it and reports events', async () => {
      // Events are held back and handed over one at a time, to see each step.
      sut.emulator.setWebhookUrl(undefined);
      const queued = await queue(message());

      await sut.jobs.whenIdle();
      const sent = await sut.email(queued.id);
      const [accepted] = sut.emulator.state().messages;
      expect(sent).toMatchObject({
        status: 'sent',
        providerMessageId: accepted.id,
        attempts: 1,
        recipients: [{ email: ADA, status: 'sent' }],
        events: [],
      });

      await sut.server.whenDeliveriesIdle();
      const [processed, delivered] = sut.emittedFor(accepted.id);
      expect([processed.event, delivered.event]).toEqual(['processed', 'delivered']);

      sut.server.trigger({ url: sut.webhookUrl, events: [processed] });
      await sut.settle();
      expect(await sut.email(queued.id)).toMatchObject({
        status: 'processed',
        recipients: [{ email: ADA, status: 'processed' }],
        events: [{ type: 'processed', recipient: ADA }],
      });

      sut.server.trigger({ url: sut.webhookUrl, events: [delivered] });
      await sut.settle();
      const done = await sut.email(queued.id);
      expect(done).toMatchObject({
        status: 'delivered',
        recipients: [{ email: ADA, status: 'delivered' }],
        events: [
          {
            type: 'processed',
            recipient: ADA,
            at: new Date(processed.timestamp * 1000).toISOString(),
          },
          {
            type: 'delivered',
            recipient: ADA,
            at: new Date(delivered.timestamp * 1000).toISOString(),
          },
        ],
      });
      expect(done.updatedAt > sent.updatedAt).toBe(true);
    });

    it('gives each to address its own personalization, carrying our email id as a custom arg', async () => {
      const email = await queue(
        message({ to: [ADA, GRACE], html: '<p>Thanks!</p>', replyTo: GRACE }),
      );
      await sut.settle();
      expect(sentRequest(email.id)).toEqual({
        from: { email: FROM_EMAIL },
        reply_to: { email: GRACE },
        subject: 'Your receipt',
        personalizations: [
          { to: [{ email: ADA }], custom_args: { switchboard_email_id: email.id } },
          { to: [{ email: GRACE }], custom_args: { switchboard_email_id: email.id } },
        ],
        content: [
          { type: 'text/plain', value: 'Thanks!' },
          { type: 'text/html', value: '<p>Thanks!</p>' },
        ],
      });
      expect(await sut.email(email.id)).toMatchObject({
        status: 'delivered',
        recipients: [
          { email: ADA, status: 'delivered' },
          { email: GRACE, status: 'delivered' },
        ],
      });
    });

    it('puts everybody in one personalization when cc or bcc is given, and tracks each of them', async () => {
      const cc = 'cc@example.com';
      const bcc = 'bcc@example.com';
      const email = await queue(
        message({ to: [ADA, GRACE], cc, bcc: [bcc], from: 'sales@example.com' }),
      );
      await sut.settle();
      const request = sentRequest(email.id);
      expect(request.personalizations).toEqual([
        {
          to: [{ email: ADA }, { email: GRACE }],
          cc: [{ email: cc }],
          bcc: [{ email: bcc }],
          custom_args: { switchboard_email_id: email.id },
        },
      ]);
      expect(request.from).toEqual({ email: 'sales@example.com' });
      const done = await sut.email(email.id);
      expect(done.to).toEqual([ADA, GRACE]);
      expect(done.recipients).toEqual(
        [ADA, GRACE, cc, bcc].map((e) => ({ email: e, status: 'delivered' })),
      );
      expect(done.status).toBe('delivered');
    });

    it('sends a dynamic template with its data to every personalization, without subject or content', async () => {
      const templateId = 'd-13b8f94fbcae4ec6b75270d6cb59f932';
      const email = await queue({
        to: [ADA, GRACE],
        templateId,
        templateData: { name: 'Ada', items: [{ sku: 'A-1' }] },
        categories: ['receipt', 'eu'],
      });
      expect(email.subject).toBeNull();
      await sut.settle();
      const data = { name: 'Ada', items: [{ sku: 'A-1' }] };
      expect(sentRequest(email.id)).toEqual({
        from: { email: FROM_EMAIL },
        template_id: templateId,
        categories: ['receipt', 'eu'],
        personalizations: [ADA, GRACE].map((address) => ({
          to: [{ email: address }],
          dynamic_template_data: data,
          custom_args: { switchboard_email_id: email.id },
        })),
      });
      expect((await sut.email(email.id)).status).toBe('delivered');
    });

    it('ends bounce, block and drop recipients bounced and dropped, and records the deferral on the way', async () => {
      const email = await queue(
        message({
          to: [
            ADA,
            SENDGRID_BOUNCE_RECIPIENT,
            SENDGRID_BLOCKED_RECIPIENT,
            SENDGRID_DROPPED_RECIPIENT,
            SENDGRID_DEFERRED_RECIPIENT,
          ],
        }),
      );
      await sut.settle();
      const done = await sut.email(email.id);
      expect(done.status).toBe('partially_delivered');
      expect(done.recipients).toEqual([
        { email: ADA, status: 'delivered' },
        {
          email: SENDGRID_BOUNCE_RECIPIENT,
          status: 'bounced',
          reason: expect.stringMatching(/5\.1\.1/),
        },
        {
          email: SENDGRID_BLOCKED_RECIPIENT,
          status: 'bounced',
          reason: expect.stringMatching(/5\.7\.1/),
        },
        { email: SENDGRID_DROPPED_RECIPIENT, status: 'dropped', reason: 'Bounced Address' },
        // The emulator delivers a deferred recipient on the next try.
        { email: SENDGRID_DEFERRED_RECIPIENT, status: 'delivered' },
      ]);
      expect(
        done.events.filter((e) => e.recipient === SENDGRID_DEFERRED_RECIPIENT).map((e) => e.type),
      ).toEqual(['processed', 'deferred', 'delivered']);
      expect(done.events).toContainEqual(
        expect.objectContaining({
          type: 'deferred',
          recipient: SENDGRID_DEFERRED_RECIPIENT,
          reason: expect.stringMatching(/deferred/i),
        }),
      );
      expect(
        done.events.filter((e) => e.recipient === SENDGRID_DROPPED_RECIPIENT).map((e) => e.type),
      ).toEqual(['dropped']);
    });

    it.each([
      [[SENDGRID_BOUNCE_RECIPIENT, SENDGRID_BLOCKED_RECIPIENT], 'bounced'],
      [[SENDGRID_DROPPED_RECIPIENT, 'dropped+2@sandbox.switchboard.test'], 'dropped'],
    ])('ends %j all %s when every recipient agrees', async (to, status) => {
      const email = await queue(message({ to }));
      await sut.settle();
      expect((await sut.email(email.id)).status).toBe(status);
    });

    it('stays deferred while SendGrid retries, and never moves back on a late event', async () => {
      sut.emulator.setWebhookUrl(undefined);
      const email = await queue(message({ to: SENDGRID_DEFERRED_RECIPIENT }));
      await sut.settle();
      const messageId = (await sut.email(email.id)).providerMessageId ?? '';
      const [processed, deferred, delivered] = sut.emittedFor(messageId);

      sut.server.trigger({ url: sut.webhookUrl, events: [processed, deferred] });
      await sut.settle();
      expect(await sut.email(email.id)).toMatchObject({
        status: 'deferred',
        recipients: [
          { email: SENDGRID_DEFERRED_RECIPIENT, status: 'deferred', reason: expect.any(String) },
        ],
      });

      // A late `processed` (a new event, out of order) is recorded but moves nothing back.
      const { sg_event_id: _old, ...lateProcessed } = processed;
      sut.server.trigger({ url: sut.webhookUrl, events: [lateProcessed] });
      await sut.settle();
      const late = await sut.email(email.id);
      expect(late.status).toBe('deferred');
      expect(late.events.map((e) => e.type).sort()).toEqual(['deferred', 'processed', 'processed']);

      sut.server.trigger({ url: sut.webhookUrl, events: [delivered] });
      await sut.settle();
      const done = await sut.email(email.id);
      expect(done.status).toBe('delivered');
      expect(done.recipients).toEqual([
        { email: SENDGRID_DEFERRED_RECIPIENT, status: 'delivered' },
      ]);
    });

    it('accepts 1000 recipients and hands them to SendGrid in one request', async () => {
      sut.emulator.setWebhookUrl(undefined);
      const to = Array.from({ length: 1000 }, (_, i) => `user${i}@example.com`);
      const email = await queue(message({ to }));
      expect(email.recipients).toHaveLength(1000);
      await sut.jobs.whenIdle();
      const sends = sut.server.requests().filter((r) => r.path === '/v3/mail/send');
      expect(sends).toHaveLength(1);
      expect((sentRequest(email.id).personalizations as unknown[]).length).toBe(1000);
      const sent = await sut.email(email.id);
      expect(sent.status).toBe('sent');
      expect(sent.recipients.every((r) => r.status === 'sent')).toBe(true);
      await sut.settle();
    });
  });

  describe('sending failures', () => {
    const sendRequests = () =>
      sut.server
        .requests()
        .filter((r) => r.path === '/v3/mail/send')
        .map((r) => r.status);

    it('retries a 503 at once and counts both requests', async () => {
      sut.server.queueFaults([{ kind: 'unavailable' }]);
      const email = await queue(message());
      await sut.settle();
      expect(sendRequests()).toEqual(['unavailable', 202]);
      expect(await sut.email(email.id)).toMatchObject({
        status: 'delivered',
        attempts: 2,
        errorCode: null,
      });
    });

    it('retries a 500 at once, within the same attempt', async () => {
      sut.server.queueFaults([{ kind: 'server_error' }, { kind: 'server_error' }]);
      const email = await queue(message());
      await sut.settle();
      expect(sendRequests()).toEqual(['server_error', 'server_error', 202]);
      expect(await sut.email(email.id)).toMatchObject({ status: 'delivered', attempts: 3 });
      expect(await sendJobOf(email.id)).toMatchObject({ status: 'done', attempts: 1 });
    });

    it.each([
      ['hangs past PROVIDER_TIMEOUT_MS', 'hang'],
      ['loses its connection', 'reset'],
    ] as const)(
      'waits %#: after a request that %s, sends again only once SendGrid has had time to say it took it',
      async (_name, fault) => {
        const frozenAt = sut.freezeClock();
        try {
          sut.server.queueFaults([{ kind: fault }]);
          const email = await queue(message());
          await sut.jobs.whenIdle();

          // SendGrid may have taken it: no quick retry, and the job waits.
          expect(sendRequests()).toEqual([fault]);
          expect(await sut.email(email.id)).toMatchObject({ status: 'queued', attempts: 1 });
          const job = await sendJobOf(email.id);
          expect(job).toMatchObject({ status: 'failed', attempts: 1 });
          expect(Date.parse(job?.runAt ?? '') - frozenAt.getTime()).toBe(UNKNOWN_OUTCOME_RETRY_MS);

          sut.unfreezeClock();
          sut.advanceClock(UNKNOWN_OUTCOME_RETRY_MS);
          await sut.settle();
          // It had not: SendGrid said nothing, so it is sent again, once.
          expect(sendRequests()).toEqual([fault, 202]);
          expect(await sut.email(email.id)).toMatchObject({ status: 'delivered', attempts: 2 });
        } finally {
          sut.unfreezeClock();
        }
      },
    );

    it('does not send again when SendGrid reports the email it did not answer for', async () => {
      const frozenAt = sut.freezeClock();
      try {
        sut.server.queueFaults([{ kind: 'hang' }]);
        const email = await queue(message());
        await sut.jobs.whenIdle();
        expect(sendRequests()).toEqual(['hang']);

        // SendGrid had taken it after all: its processed event arrives before the retry.
        const res = await sut.deliver([
          {
            email: ADA,
            timestamp: Math.floor(frozenAt.getTime() / 1000),
            event: 'processed',
            sg_event_id: newSgEventId(),
            sg_message_id: 'lateAnswer0001.recvd-test-0-0.0',
            switchboard_email_id: email.id,
          },
        ]);
        expect(res.statusCode).toBe(200);
        await sut.jobs.whenIdle();
        sut.unfreezeClock();
        sut.advanceClock(UNKNOWN_OUTCOME_RETRY_MS);
        await sut.settle();

        expect(sendRequests()).toEqual(['hang']);
        expect(await sut.email(email.id)).toMatchObject({ status: 'processed' });
        expect(await sendJobOf(email.id)).toMatchObject({ status: 'done', attempts: 2 });
      } finally {
        sut.unfreezeClock();
      }
    });

    it('retries a 429 at the time X-RateLimit-Reset names', async () => {
      // Our clock stands still, so the job cannot come due before the test moves it.
      const frozenAt = sut.freezeClock();
      try {
        sut.server.queueFaults([{ kind: 'rate_limit' }]);
        const email = await queue(message());
        await sut.jobs.whenIdle();

        expect(sendRequests()).toEqual(['rate_limit']);
        expect(await sut.email(email.id)).toMatchObject({ status: 'queued', attempts: 1 });
        const job = await sendJobOf(email.id);
        expect(job).toMatchObject({
          status: 'failed',
          attempts: 1,
          lastError: expect.stringContaining('429'),
        });
        // The emulator's reset is the next whole minute (epoch seconds), as SendGrid's.
        const runAt = new Date(job?.runAt ?? 0);
        expect(runAt.getUTCSeconds()).toBe(0);
        expect(runAt.getUTCMilliseconds()).toBe(0);
        expect(runAt.getTime()).toBeGreaterThan(frozenAt.getTime());
        expect(runAt.getTime() - frozenAt.getTime()).toBeLessThanOrEqual(60_000);

        sut.unfreezeClock();
        sut.advanceClock(Math.max(0, runAt.getTime() - Date.now()) + 1000);
        await sut.settle();
        expect(sendRequests()).toEqual(['rate_limit', 202]);
        expect(await sut.email(email.id)).toMatchObject({ status: 'delivered', attempts: 2 });
      } finally {
        sut.unfreezeClock();
      }
    });

    it('ends failed with provider_unavailable when every attempt fails', async () => {
      // JOB_MAX_ATTEMPTS=3 job attempts of 1 + PROVIDER_MAX_RETRIES=2 requests each.
      sut.server.queueFaults(Array.from({ length: 9 }, () => ({ kind: 'unavailable' as const })));
      const email = await queue(message());
      await sut.settle();
      expect(sendRequests()).toHaveLength(9);
      expect(await sut.email(email.id)).toMatchObject({
        status: 'failed',
        errorCode: 'provider_unavailable',
        errorMessage: expect.stringMatching(/^SendGrid was unavailable; gave up after 3 attempts/),
        attempts: 9,
        recipients: [{ email: ADA, status: 'queued' }],
      });
      expect(await sendJobOf(email.id)).toMatchObject({ status: 'dead', attempts: 3 });
    });

    it("ends failed at once on a 400, with our message to the client and SendGrid's only in the log", async () => {
      // Valid to us (RFC 5322 allows a quoted local part) but refused by SendGrid.
      const email = await queue(message({ to: '"ada lovelace"@example.com' }));
      await sut.settle();
      expect(sendRequests()).toEqual([400]);
      const failed = await sut.email(email.id);
      expect(failed).toMatchObject({
        status: 'failed',
        errorCode: 'provider_rejected',
        errorMessage: 'SendGrid rejected the email as invalid (HTTP 400)',
        attempts: 1,
        providerMessageId: null,
      });
      const res = await sut.get(`/emails/${email.id}`);
      expect(res.body).not.toMatch(/valid address|personalizations/);
      const line = logs
        .map((l) => JSON.parse(l) as { msg?: string; emailId?: string; providerErrors?: unknown })
        .find((l) => l.msg === 'SendGrid rejected the email' && l.emailId === email.id);
      expect(line?.providerErrors).toEqual([
        { message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' },
      ]);
      expect(logs.join('\n')).not.toContain('ada lovelace');
      expect(await sendJobOf(email.id)).toMatchObject({ status: 'dead', attempts: 1 });
    });
  });

  describe('GET /emails', () => {
    it('reads one email, and answers 404 for an unknown or malformed id', async () => {
      const email = await queue(message());
      await sut.settle();
      const res = await sut.get(`/emails/${email.id}`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: email.id, status: 'delivered' });
      for (const id of ['eml_00000000000000000000000000', 'nope']) {
        const missing = await sut.get(`/emails/${id}`);
        expect(missing.statusCode).toBe(404);
        expect(missing.json().code).toBe('not_found');
      }
    });

    it('lists newest first, by status, in pages', async () => {
      const delivered = await queue(message());
      await sut.settle();
      // Without events the next three stay `sent`, the newest `sent` emails of the suite.
      sut.emulator.setWebhookUrl(undefined);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await queue(message({ subject: `page ${i}` }))).id);
      await sut.settle();

      type Page = { data: EmailDto[]; nextCursor: string | null };
      const first = await sut.get('/emails?limit=2&status=sent');
      expect(first.statusCode).toBe(200);
      const page1 = first.json<Page>();
      expect(page1.data.map((e) => e.id)).toEqual([ids[2], ids[1]]);
      expect(page1.data[0]).toMatchObject({
        status: 'sent',
        recipients: [{ email: ADA, status: 'sent' }],
      });
      expect(page1.nextCursor).toEqual(expect.any(String));
      const second = await sut.get(
        `/emails?limit=1&status=sent&cursor=${encodeURIComponent(page1.nextCursor ?? '')}`,
      );
      expect(second.json<Page>().data.map((e) => e.id)).toEqual([ids[0]]);

      const byStatus = (await sut.get('/emails?status=delivered&limit=100')).json<Page>();
      expect(byStatus.data[0].id).toBe(delivered.id);
      expect(byStatus.data.every((e) => e.status === 'delivered')).toBe(true);
      const all = (await sut.get('/emails')).json<Page>();
      expect(all.data.length).toBeLessThanOrEqual(20);
      expect(all.data.slice(0, 4).map((e) => e.id)).toEqual(
        [...ids].reverse().concat(delivered.id),
      );
    });

    it.each([
      ['/emails?status=opened', 'status'],
      ['/emails?limit=0', 'limit'],
      ['/emails?limit=101', 'limit'],
      ['/emails?cursor=not-a-cursor', 'cursor'],
      ['/emails?foo=bar', 'foo'],
    ])('answers %s with 400 validation_failed', async (url, field) => {
      const res = await sut.get(url);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'validation_failed',
        details: expect.arrayContaining([expect.objectContaining({ field })]),
      });
    });
  });

  describe('validation, auth and idempotency', () => {
    const many = (n: number, prefix = 'u') =>
      Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);

    it.each<[string, Record<string, unknown>, string]>([
      ['no to', { subject: 'x', text: 'y' }, 'to'],
      ['an empty to', message({ to: [] }), 'to'],
      ['an invalid address', message({ to: [ADA, 'not-an-address'] }), 'to'],
      ['1001 recipients', message({ to: many(1001) }), 'to'],
      ['1001 recipients with cc', message({ to: many(600), cc: many(401, 'c') }), 'to'],
      ['a repeated address', message({ to: [ADA], bcc: 'ADA@example.com' }), 'to'],
      ['an invalid cc', message({ cc: 'nope' }), 'cc'],
      ['no subject', { to: ADA, text: 'y' }, 'subject'],
      ['an empty subject', message({ subject: '' }), 'subject'],
      ['a 999-character subject', message({ subject: 'x'.repeat(999) }), 'subject'],
      ['a subject with a line break', message({ subject: 'a\r\nBcc: x@example.com' }), 'subject'],
      ['no text or html', { to: ADA, subject: 'x' }, 'text'],
      ['an empty text', message({ text: '' }), 'text'],
      [
        'a legacy templateId',
        { to: ADA, templateId: '13b8f94f-bcae-4ec6-b752-70d6cb59f932' },
        'templateId',
      ],
      ['templateData without templateId', message({ templateData: { a: 1 } }), 'templateData'],
      [
        'templateData that is not an object',
        { to: ADA, templateId: 'd-abc', templateData: 'x' },
        'templateData',
      ],
      ['11 categories', message({ categories: many(11) }), 'categories'],
      ['a repeated category', message({ categories: ['a', 'a'] }), 'categories'],
      ['non-string metadata', message({ metadata: { n: 1 } }), 'metadata'],
      ['an invalid from', message({ from: 'nobody' }), 'from'],
      ['an unknown field', message({ attachments: [] }), 'attachments'],
      // null is not "left out": it must not pass for an optional field.
      ['a null subject', message({ subject: null }), 'subject'],
      ['a null text', message({ text: null }), 'text'],
      ['a null templateId', { to: ADA, templateId: null }, 'templateId'],
      ['a null cc', message({ cc: null }), 'cc'],
      ['null metadata', message({ metadata: null }), 'metadata'],
    ])('answers 400 validation_failed to %s', async (_name, body, field) => {
      const res = await sut.post(body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        statusCode: 400,
        code: 'validation_failed',
        details: expect.arrayContaining([expect.objectContaining({ field })]),
      });
    });

    it('accepts a 998-character subject of non-BMP characters (characters, not UTF-16 units)', async () => {
      sut.emulator.setWebhookUrl(undefined);
      const res = await sut.post(message({ subject: '😀'.repeat(998) }));
      expect(res.statusCode).toBe(202);
      await sut.settle();
    });

    it('documents its routes in /docs/openapi.json', async () => {
      const doc = (await sut.app.inject({ method: 'GET', url: '/docs/openapi.json' })).json<{
        paths: Record<string, Record<string, unknown>>;
      }>();
      expect(Object.keys(doc.paths['/emails'])).toEqual(expect.arrayContaining(['post', 'get']));
      expect(Object.keys(doc.paths['/emails/{id}'])).toEqual(['get']);
      expect(Object.keys(doc.paths['/webhooks/sendgrid'])).toEqual(['post']);
    });

    it('needs a key with the emails scope', async () => {
      const none = await sut.app.inject({ method: 'GET', url: '/emails' });
      expect(none.statusCode).toBe(401);
      const sms = await sut.get('/emails', KEYS.sms);
      expect(sms.statusCode).toBe(403);
      const admin = await sut.post(message(), bearer(KEYS.admin));
      expect(admin.statusCode).toBe(403);
    });

    it('replays a repeated Idempotency-Key without queueing a second email', async () => {
      sut.emulator.setWebhookUrl(undefined);
      const key = `email-${Date.now()}`;
      const first = await sut.post(message(), { 'idempotency-key': key });
      const again = await sut.post(message(), { 'idempotency-key': key });
      expect(first.statusCode).toBe(202);
      expect(again.statusCode).toBe(202);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toBe(first.body);
      const other = await sut.post(message({ subject: 'other' }), { 'idempotency-key': key });
      expect(other.statusCode).toBe(422);
      await sut.settle();
      expect(sut.server.requests().filter((r) => r.path === '/v3/mail/send')).toHaveLength(1);
    });
  });
});
