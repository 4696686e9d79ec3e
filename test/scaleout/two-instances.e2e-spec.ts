import { randomBytes } from 'node:crypto';
import type { StripeState } from '../../src/sandbox/stripe/stripe.emulator';
import type { AppProcess } from '../helpers/app-process';
import { pollUntil } from '../helpers/poll';
import {
  RATE_LIMIT_PER_MINUTE,
  ScaleoutCluster,
  scaleoutSkipReason,
  TWILIO_MAX_RPS,
  TWILIO_MESSAGES_PATH,
  type ApiResponse,
  type InstanceName,
} from './scaleout-cluster';

const skipReason = scaleoutSkipReason();
if (skipReason) process.stdout.write(`Scale-out suite skipped: ${skipReason}\n`);

/** One API key per test: the inbound limit counts per key, across the instances. */
const KEY_NAMES = [
  'webhooks',
  'idempotency',
  'inbound',
  'outbound',
  'capacity',
  'sigterm',
  'sigkill',
];
const INSTANCES: readonly InstanceName[] = ['A', 'B'];
/** Statuses an SMS has once Twilio has it. */
const HANDED_OVER = ['sent', 'delivered', 'undelivered', 'failed'];

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** A recipient of the test's own, so the emulator's log can be read per test. */
const newRecipient = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

(skipReason ? describe.skip : describe)('Two instances on PostgreSQL + Redis', () => {
  let cluster: ScaleoutCluster;

  beforeAll(async () => {
    cluster = await ScaleoutCluster.start(KEY_NAMES);
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);
  beforeEach(async () => {
    await cluster?.ensureBothRunning();
  }, 60_000);
  afterEach(() => {
    for (const server of Object.values(cluster?.sandbox.servers ?? {})) server.setFaults({});
  });

  /** Log lines of `instance` (running, or stopped during the current test) with `message` and one of `values` in `field`. */
  const loggedBy = (instance: AppProcess, message: string, field: string, values: Set<string>) =>
    instance.logged(message).filter((l) => values.has(String(l[field])));

  /** Waits until the stored event is processed and its job done, then checks it was stored, queued and handled once. */
  async function expectProcessedOnce(provider: string, eventId: string): Promise<string> {
    const eventRows = () =>
      cluster.rows<{ id: string; status: string; attempts: number }>(
        'select id, status, attempts from webhook_events where provider = $1 and event_id = $2',
        [provider, eventId],
      );
    const jobsOf = (rowId: string) =>
      cluster.rows<{ status: string; attempts: number }>(
        `select status, attempts from jobs where type = 'webhook.process' and payload::jsonb -> 'eventRowIds' ? $1`,
        [rowId],
      );
    // The event reads processed a moment before its job is recorded done.
    await pollUntil(
      async () => {
        const processed = (await eventRows()).filter((r) => r.status === 'processed');
        return (
          processed.length > 0 && (await jobsOf(processed[0].id)).some((j) => j.status === 'done')
        );
      },
      { timeoutMs: 15_000, what: `${provider} event ${eventId} to be processed` },
    );
    const rows = await eventRows();
    expect(rows).toEqual([{ id: expect.any(String), status: 'processed', attempts: 1 }]);
    const rowId = rows[0].id;
    expect(await jobsOf(rowId)).toEqual([{ status: 'done', attempts: 1 }]);
    // The one job is done, so no later line can come: exactly one instance handled it, once.
    const processed = INSTANCES.flatMap((name) =>
      loggedBy(
        cluster.instance(name),
        'webhook event processed',
        'webhookEventId',
        new Set([rowId]),
      ),
    );
    expect(processed).toHaveLength(1);
    return rowId;
  }

  /** Posts the same delivery to both instances at once, `copies` times each; every answer must be 200. */
  async function deliverToBoth(
    path: string,
    delivery: { body: string; headers: Record<string, string> },
    copies = 3,
  ): Promise<void> {
    const statuses = await Promise.all(
      Array.from({ length: copies }).flatMap(() =>
        INSTANCES.map((name) => cluster.deliver(name, path, delivery.body, delivery.headers)),
      ),
    );
    expect(statuses).toEqual(Array.from({ length: copies * INSTANCES.length }, () => 200));
  }

  describe('a webhook delivered to both instances at once', () => {
    it('Stripe: is stored and processed exactly once', async () => {
      const created = await cluster.call('lb', 'webhooks', 'POST', '/payments', {
        amount: 1250,
        currency: 'usd',
        paymentMethod: 'pm_card_visa',
      });
      expect(created.status).toBe(201);
      const paymentId = String(created.body.id);
      const state = cluster.sandbox.servers.stripe.state() as StripeState;
      const intent = state.paymentIntents.find((pi) => pi.id === created.body.providerId);
      if (!intent) throw new Error('the emulator has no PaymentIntent for the payment');
      const eventId = `evt_${hex(12)}`;
      const delivery = cluster.signedStripeDelivery({
        id: eventId,
        object: 'event',
        api_version: '2026-10-28.endive',
        created: Math.floor(Date.now() / 1000),
        data: { object: { ...intent, status: 'succeeded' } },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type: 'payment_intent.succeeded',
      });

      await deliverToBoth('/webhooks/stripe', delivery);

      await expectProcessedOnce('stripe', eventId);
      const payment = await cluster.call('A', 'webhooks', 'GET', `/payments/${paymentId}`);
      expect(payment.body.status).toBe('succeeded');
    }, 30_000);

    it('Twilio: is stored and processed exactly once', async () => {
      const sid = `SM${hex(16)}`;
      const delivery = cluster.signedTwilioDelivery({
        MessageSid: sid,
        SmsMessageSid: sid,
        AccountSid: cluster.sandbox.credentials.twilio.accountSid,
        From: newRecipient(),
        To: cluster.sandbox.credentials.twilio.fromNumber,
        Body: 'STOP',
        NumMedia: '0',
      });

      await deliverToBoth('/webhooks/twilio', delivery);

      const rowId = await expectProcessedOnce('twilio', `${sid}:received`);
      const inbound = await cluster.rows(
        'select webhook_event_id from sms_inbound_messages where provider_id = $1',
        [sid],
      );
      expect(inbound).toEqual([{ webhook_event_id: rowId }]);
    }, 30_000);

    it('SendGrid: stores and processes each event of the batch exactly once', async () => {
      const created = await cluster.call('lb', 'webhooks', 'POST', '/emails', {
        to: 'ada@example.com',
        subject: 'Your receipt',
        text: 'Thank you',
      });
      expect(created.status).toBe(202);
      const emailId = String(created.body.id);
      const at = Math.floor(Date.now() / 1000);
      const events = ['open', 'click'].map((event) => ({
        email: 'ada@example.com',
        timestamp: at,
        event,
        sg_event_id: hex(11),
        sg_message_id: `${hex(11)}.recvd-1`,
        switchboard_email_id: emailId,
        ...(event === 'click' ? { url: 'https://example.com/receipt' } : {}),
      }));
      const delivery = cluster.signedSendgridDelivery(events);

      await deliverToBoth('/webhooks/sendgrid', delivery);

      for (const event of events) await expectProcessedOnce('sendgrid', event.sg_event_id);
      const email = await cluster.call('B', 'webhooks', 'GET', `/emails/${emailId}`);
      const types = (email.body.events as { type: string }[]).map((e) => e.type);
      expect(types.filter((t) => t === 'open')).toHaveLength(1);
      expect(types.filter((t) => t === 'click')).toHaveLength(1);
    }, 30_000);
  });

  it('runs one Idempotency-Key sent to both instances at once once: one payment, one PaymentIntent', async () => {
    // Stripe answers slowly, so the first request is still running when the others arrive.
    cluster.sandbox.servers.stripe.setFaults({ latencyMs: 300, pathPrefix: '/v1/payment_intents' });
    const key = `order-${hex(8)}`;
    const description = `idempotency ${key}`;
    const body = {
      amount: 4200,
      currency: 'eur',
      description,
      paymentMethod: 'pm_card_visa',
      confirm: true,
    };
    const post = (name: InstanceName) =>
      cluster.call(name, 'idempotency', 'POST', '/payments', body, { 'idempotency-key': key });

    const concurrent = await Promise.all([post('A'), post('B'), post('A'), post('B')]);
    const later = await Promise.all([post('A'), post('B')]);

    const ran = concurrent.filter((r) => r.status === 201 && !r.headers.get('idempotent-replayed'));
    expect(ran).toHaveLength(1);
    const original = ran[0];
    for (const res of concurrent.filter((r) => r !== original)) {
      // Still running when it arrived (409), or replayed if it came after the first finished.
      if (res.status === 409) expect(res.body.code).toBe('idempotency_key_in_use');
      else expectReplayOf(res, original);
    }
    for (const res of later) expectReplayOf(res, original);

    const payments = await cluster.rows('select id from payments where description = $1', [
      description,
    ]);
    expect(payments).toEqual([{ id: original.body.id }]);
    const state = cluster.sandbox.servers.stripe.state() as StripeState;
    expect(state.paymentIntents.filter((pi) => pi.description === description)).toHaveLength(1);
    // Stripe itself was asked once: the instances agreed before calling it.
    const creations = cluster.sandbox.servers.stripe
      .requests()
      .filter(
        (r) =>
          r.method === 'POST' &&
          r.path === '/v1/payment_intents' &&
          new URLSearchParams(r.body).get('description') === description,
      );
    expect(creations).toHaveLength(1);
  }, 30_000);

  it('holds the inbound rate limit of a key across both instances together', async () => {
    const extra = 30;
    const answers: ApiResponse[] = [];
    // Alternating between the instances, ten at a time: each sees about half of the requests.
    for (let sent = 0; sent < RATE_LIMIT_PER_MINUTE + extra; sent += 10) {
      answers.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            cluster.call(INSTANCES[i % 2], 'inbound', 'GET', '/payments?limit=1'),
          ),
        )),
      );
    }

    expect(answers.filter((r) => r.status === 200)).toHaveLength(RATE_LIMIT_PER_MINUTE);
    const limited = answers.filter((r) => r.status === 429);
    expect(limited).toHaveLength(extra);
    for (const res of limited) {
      expect(res.body.code).toBe('rate_limited');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  }, 30_000);

  describe('SMS', () => {
    const sendSms = async (target: InstanceName, key: string, to: string, count: number) => {
      const answers = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          cluster.call(target, key, 'POST', '/sms', { to, body: `message ${i + 1}` }),
        ),
      );
      for (const res of answers) expect(res.status).toBe(202);
      return answers.map((res) => String(res.body.id));
    };

    /** The message sends Twilio saw for this recipient, in arrival order. */
    const twilioRequestsTo = (to: string) =>
      cluster.sandbox.servers.twilio
        .requests()
        .filter(
          (r) =>
            r.method === 'POST' &&
            r.path.startsWith(TWILIO_MESSAGES_PATH) &&
            r.path.endsWith('/Messages.json') &&
            new URLSearchParams(r.body).get('To') === to,
        );
    /** Those it accepted (201). */
    const twilioSendsTo = (to: string) => twilioRequestsTo(to).filter((r) => r.status === 201);

    const messages = (ids: string[]) =>
      cluster.rows<{ id: string; status: string; provider_id: string | null; attempts: number }>(
        'select id, status, provider_id, attempts from sms_messages where id = any($1)',
        [ids],
      );

    const sendJobs = (ids: string[]) =>
      cluster.rows<{ status: string; attempts: number }>(
        `select status, attempts from jobs where type = 'sms.send' and payload::jsonb ->> 'messageId' = any($1)`,
        [ids],
      );

    /** Waits until Twilio has every message, then checks none is lost, left unsent or still running. */
    async function expectAllHandedOver(ids: string[], timeoutMs: number): Promise<void> {
      let pending: string[] = [];
      await pollUntil(
        async () => {
          pending = (await messages(ids))
            .filter((m) => m.provider_id === null)
            .map((m) => `${m.id} ${m.status}`);
          return pending.length === 0;
        },
        {
          timeoutMs,
          intervalMs: 200,
          what: () =>
            `${pending.length} messages to reach Twilio: ${pending.slice(0, 5).join(', ')}`,
        },
      );
      const rows = await messages(ids);
      expect(rows).toHaveLength(ids.length);
      for (const row of rows) expect(HANDED_OVER).toContain(row.status);
      const twilioSids = new Set(
        cluster.sandbox.emulators.twilio.state().messages.map((m) => m.sid),
      );
      for (const row of rows) expect(twilioSids.has(String(row.provider_id))).toBe(true);
      // The job of each one ends done (not running under a dead lease, not queued again).
      await pollUntil(async () => (await sendJobs(ids)).every((j) => j.status === 'done'), {
        timeoutMs: 10_000,
        what: 'the send jobs to be recorded done',
      });
      expect(await sendJobs(ids)).toHaveLength(ids.length);
    }

    /** How many of these messages each instance handed to Twilio, by its log. */
    const handedOverBy = (ids: string[], after = 0) => {
      const wanted = new Set(ids);
      const count = (name: InstanceName) =>
        loggedBy(cluster.instance(name), 'sms handed to twilio', 'messageId', wanted).filter(
          (l) => Number(l.time) >= after,
        ).length;
      return { A: count('A'), B: count('B') };
    };

    /** The split of the sends between the instances, once their logs name every message (they are read as they arrive). */
    async function handedOverByOnceLogged(ids: string[]): Promise<{ A: number; B: number }> {
      await pollUntil(
        () => {
          const by = handedOverBy(ids);
          return by.A + by.B >= ids.length;
        },
        { timeoutMs: 5000, what: 'a log line per message sent' },
      );
      return handedOverBy(ids);
    }

    it('are sent by whichever instance has capacity, not only the one that accepted them', async () => {
      const to = newRecipient();
      const ids = await sendSms('A', 'capacity', to, 48);

      await expectAllHandedOver(ids, 30_000);

      const by = await handedOverByOnceLogged(ids);
      expect(by.A + by.B).toBe(ids.length);
      expect(by.B).toBeGreaterThan(0);
      expect(twilioSendsTo(to)).toHaveLength(ids.length);
    }, 60_000);

    it('hold the outbound Twilio limit across both instances together, as Twilio sees it', async () => {
      const to = newRecipient();
      const ids = (
        await Promise.all([sendSms('A', 'outbound', to, 40), sendSms('B', 'outbound', to, 40)])
      ).flat();

      await expectAllHandedOver(ids, 30_000);

      // Both instances were sending at once, so separate limits would have doubled the rate.
      const by = await handedOverByOnceLogged(ids);
      expect(by.A + by.B).toBe(ids.length);
      expect(by.A).toBeGreaterThanOrEqual(10);
      expect(by.B).toBeGreaterThanOrEqual(10);
      const arrivals = twilioSendsTo(to).map((r) => Date.parse(r.at));
      expect(arrivals).toHaveLength(ids.length);
      // Measured at Twilio, with room for scheduling jitter (a send that leaves late lands
      // closer to the next one) but not for a second instance's worth: the burst lasted as
      // long as the limit requires, less a second, and no two-second window holds more
      // than two seconds' worth plus a quarter.
      const spanSeconds = (arrivals[arrivals.length - 1] - arrivals[0]) / 1000;
      expect(spanSeconds).toBeGreaterThanOrEqual((arrivals.length - 1) / TWILIO_MAX_RPS - 1);
      const busiest = Math.max(
        ...arrivals.map((start) => arrivals.filter((t) => t >= start && t < start + 2000).length),
      );
      expect(busiest).toBeLessThanOrEqual(2 * TWILIO_MAX_RPS * 1.25);
    }, 60_000);

    it('SIGTERM during a burst: the instance finishes what it runs and the other takes the rest', async () => {
      // Slow answers keep sends in flight at A when the signal comes.
      cluster.sandbox.servers.twilio.setFaults({
        latencyMs: 500,
        pathPrefix: TWILIO_MESSAGES_PATH,
      });
      const to = newRecipient();
      const ids = await sendSms('A', 'sigterm', to, 48);
      const a = cluster.instance('A');
      await pollUntil(() => twilioSendsTo(to).length >= 4, {
        timeoutMs: 20_000,
        what: 'the first sends to reach Twilio',
      });

      const signalledAt = Date.now();
      await a.kill('SIGTERM');

      await expectAllHandedOver(ids, 45_000);
      const byB = (await handedOverByOnceLogged(ids)).B;
      const finishing = a
        .logged('sms handed to twilio')
        .filter((l) => ids.includes(String(l.messageId)) && Number(l.time) >= signalledAt);
      // A finished sends it had started after the signal; B resumed the ones A had not.
      expect(finishing.length).toBeGreaterThan(0);
      expect(byB).toBeGreaterThan(0);
      // Nothing was abandoned to a lease and run again, so Twilio got each message once.
      expect((await sendJobs(ids)).every((j) => j.attempts === 1)).toBe(true);
      expect(twilioSendsTo(to)).toHaveLength(ids.length);
    }, 90_000);

    it("SIGKILL mid-send: the other instance finishes the dead one's jobs, nothing lost or left sending", async () => {
      // Only A sends at first, and Twilio holds its first requests unanswered: A surely dies mid-send.
      await cluster.instance('B').kill('SIGTERM');
      const hung = 4;
      cluster.sandbox.servers.twilio.queueFaults(
        Array.from({ length: hung }, () => ({ kind: 'hang' as const })),
      );
      const to = newRecipient();
      const ids = await sendSms('A', 'sigkill', to, 24);
      await pollUntil(
        () => twilioRequestsTo(to).filter((r) => r.status === 'hang').length === hung,
        {
          timeoutMs: 20_000,
          what: `${hung} sends to be held by Twilio`,
        },
      );
      await cluster.startInstance('B');

      const killedAt = Date.now();
      await cluster.instance('A').kill('SIGKILL');

      await expectAllHandedOver(ids, 60_000);
      const rows = await messages(ids);
      expect(rows.filter((m) => m.status === 'queued' || m.status === 'sending')).toEqual([]);
      // The held sends were A's jobs: B ran them again once A's lease ran out.
      const retaken = (await sendJobs(ids)).filter((j) => j.attempts > 1);
      expect(retaken.length).toBeGreaterThanOrEqual(hung);
      await pollUntil(() => handedOverBy(ids, killedAt).B >= hung, {
        timeoutMs: 5000,
        what: `B to log the ${hung} sends it took over`,
      });
    }, 120_000);
  });

  function expectReplayOf(res: ApiResponse, original: ApiResponse): void {
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(res.body).toEqual(original.body);
  }
});
