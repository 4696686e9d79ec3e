import { createHash } from 'node:crypto';
import { JobsModule } from '../../src/jobs/jobs.module';
import { PaymentsModule } from '../../src/payments/payments.module';
import { StripeWebhookController } from '../../src/payments/stripe-webhook.controller';
import type { PaymentIntent } from '../../src/sandbox/stripe/stripe.types';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';
import { bearer, KEYS, startTestApp, TestApp } from '../helpers/app';
import { createTestDatabase, describeEachDialect, TestDatabase } from '../helpers/databases';
import {
  PaymentsTestApp,
  STRIPE_WEBHOOK_SECRET,
  startPaymentsTestApp,
  stripeEvent,
} from './payments-test-app';

/** Not the default (300), so a guard ignoring WEBHOOK_TOLERANCE_SECONDS fails. */
const TOLERANCE_SECONDS = 120;
/** The next secret during a rotation; the emulator still signs with the current one. */
const ROTATED_SECRET = 'whsec_switchboardPaymentsRotated0000000';

describeEachDialect(StripeWebhookController.name, (target) => {
  let database: TestDatabase;
  let sut: PaymentsTestApp;

  const now = () => Math.floor(Date.now() / 1000);
  const eventRow = (eventId: string) =>
    sut.db
      .selectFrom('webhook_events')
      .selectAll()
      .where('provider', '=', 'stripe')
      .where('event_id', '=', eventId)
      .executeTakeFirst();
  const paymentRow = (id: string) =>
    sut.db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const intentOf = (providerId: string): PaymentIntent => {
    const pi = sut.stripeState().paymentIntents.find((p) => p.id === providerId);
    if (!pi) throw new Error(`no ${providerId} in the emulator`);
    return pi;
  };
  const retrievals = () =>
    sut.emulator
      .requests()
      .filter((r) => r.method === 'GET' && r.path.startsWith('/v1/payment_intents/'));
  const create = async (
    body: Record<string, unknown>,
  ): Promise<{ id: string; providerId: string }> => {
    const res = await sut.call('POST', '/payments', { amount: 2500, currency: 'usd', ...body });
    expect(res.statusCode).toBe(201);
    await sut.settle();
    return res.json();
  };

  beforeAll(async () => {
    database = await target.create();
    sut = await startPaymentsTestApp(database, {
      STRIPE_WEBHOOK_SECRET: `${STRIPE_WEBHOOK_SECRET},${ROTATED_SECRET}`,
      WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS),
    });
  });
  afterAll(async () => {
    await sut?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    await sut.settle();
    sut.emulator.setFaults({});
    sut.emulator.reset();
  });

  describe('signature', () => {
    it('stores a signed event before answering 200 { received: true }', async () => {
      const payload = stripeEvent(
        'customer.created',
        { id: 'cus_1', object: 'customer' },
        { id: 'evt_signed_1' },
      );

      const res = await sut.deliver(payload);

      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ received: true });
      expect(await eventRow('evt_signed_1')).toMatchObject({ type: 'customer.created' });
      await sut.settle();
      // An unknown type is stored and acknowledged, and changes nothing.
      expect(await eventRow('evt_signed_1')).toMatchObject({ status: 'processed' });
    });

    interface Forgery {
      tamper?: (payload: string) => string;
      secret?: string;
      /** Seconds from now, when the forgery is delivered. */
      offset?: number;
      /** Sent as is instead of a computed header; null: no header. */
      signature?: string | null;
    }
    const forgeries: [string, Forgery][] = [
      ['a tampered body', { tamper: (p) => p.replace('"cus_2"', '"cus_3"') }],
      ['a wrong secret', { secret: 'whsec_notOurs000000000000000000' }],
      ['no header', { signature: null }],
      ['a malformed header', { signature: 't=abc,v1=zz' }],
      ['no v1 signature', { signature: `t=${now()},v0=${'a'.repeat(64)}` }],
      ['an expired timestamp', { offset: -TOLERANCE_SECONDS - 5 }],
      ['a far-future timestamp', { offset: TOLERANCE_SECONDS + 5 }],
    ];

    it.each(forgeries)(
      'answers 400 invalid_signature for %s and stores nothing',
      async (name, forgery) => {
        const eventId = `evt_forged_${name.replace(/\W+/g, '_')}`;
        const signed = stripeEvent(
          'customer.created',
          { id: 'cus_2', object: 'customer' },
          { id: eventId },
        );
        const signature =
          forgery.signature !== undefined
            ? forgery.signature
            : sut.stripe.webhooks.generateTestHeaderString({
                payload: signed,
                secret: forgery.secret ?? STRIPE_WEBHOOK_SECRET,
                timestamp: now() + (forgery.offset ?? 0),
              });

        const res = await sut.deliver(forgery.tamper?.(signed) ?? signed, { signature });

        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({ statusCode: 400, code: 'invalid_signature' });
        expect(await eventRow(eventId)).toBeUndefined();
      },
    );

    it('accepts timestamps inside the tolerance on either side', async () => {
      for (const [id, timestamp] of [
        ['evt_early', now() - TOLERANCE_SECONDS + 5],
        ['evt_late', now() + TOLERANCE_SECONDS - 5],
      ] as const) {
        const res = await sut.deliver(stripeEvent('customer.created', {}, { id }), { timestamp });
        expect(res.statusCode).toBe(200);
      }
    });

    it('accepts the rotated second secret, and a header carrying several signatures', async () => {
      const rotated = await sut.deliver(
        stripeEvent('customer.created', {}, { id: 'evt_rotated' }),
        {
          secret: ROTATED_SECRET,
        },
      );
      expect(rotated.statusCode).toBe(200);
      expect(await eventRow('evt_rotated')).toBeDefined();

      const payload = stripeEvent('customer.created', {}, { id: 'evt_two_sigs' });
      const signed = sut.stripe.webhooks.generateTestHeaderString({
        payload,
        secret: ROTATED_SECRET,
      });
      // A wrong signature ahead of the right one, as during Stripe's own secret rolls.
      const res = await sut.deliver(payload, {
        signature: signed.replace(',v1=', `,v1=${'0'.repeat(64)},v1=`),
      });
      expect(res.statusCode).toBe(200);
      expect(await eventRow('evt_two_sigs')).toBeDefined();
    });

    it('stores and acknowledges a signed body it cannot read, which changes nothing', async () => {
      // A thin event (v2), say: Stripe would retry a 400 for days, then disable the endpoint.
      const thin = JSON.stringify({
        id: 'evt_thin_1',
        object: 'v2.core.event',
        type: 'v1.billing.meter.error_report_triggered',
        created: '2026-11-30T12:00:00.000Z',
      });
      const odd = JSON.stringify({ hello: 'world' });

      expect((await sut.deliver(thin)).statusCode).toBe(200);
      expect((await sut.deliver(odd)).statusCode).toBe(200);
      await sut.settle();

      expect(await eventRow('evt_thin_1')).toMatchObject({
        type: 'v1.billing.meter.error_report_triggered',
        status: 'processed',
      });
      const hashed = `sha256:${createHash('sha256').update(odd).digest('hex')}`;
      expect(await eventRow(hashed)).toMatchObject({ type: 'unreadable', status: 'processed' });
    });
  });

  describe('processing', () => {
    it('stores and processes a duplicate once', async () => {
      const payment = await create({});
      const payload = stripeEvent('payment_intent.created', intentOf(payment.providerId), {
        id: 'evt_dup',
      });

      const first = await sut.deliver(payload);
      const second = await sut.deliver(payload);
      await sut.settle();

      expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
      const rows = await sut.db
        .selectFrom('webhook_events')
        .selectAll()
        .where('event_id', '=', 'evt_dup')
        .execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'processed', attempts: 1 });
      const jobs = await sut.db
        .selectFrom('jobs')
        .select('id')
        .where('type', '=', 'webhook.process')
        .where('payload', 'like', `%${rows[0].id}%`)
        .execute();
      expect(jobs).toHaveLength(1);
    });

    it('finds the payment by our request key when the event comes before we stored the PaymentIntent id', async () => {
      const payment = await create({ paymentMethod: 'pm_card_visa' });
      const stored = await paymentRow(payment.id);
      expect(stored.status).not.toBe('succeeded');
      // As between Stripe's answer to our create and our write of its id.
      await sut.db
        .updateTable('payments')
        .set({ provider_id: null })
        .where('id', '=', payment.id)
        .execute();
      const succeeded = { ...intentOf(payment.providerId), status: 'succeeded' };

      const res = await sut.deliver(
        stripeEvent('payment_intent.succeeded', succeeded, {
          created: now() + 60,
          idempotencyKey: stored.idempotency_key,
        }),
      );
      await sut.settle();

      expect(res.statusCode).toBe(200);
      expect(await paymentRow(payment.id)).toMatchObject({
        provider_id: payment.providerId,
        status: 'succeeded',
      });
    });

    it('never moves a final payment back', async () => {
      const payment = await create({ paymentMethod: 'pm_card_visa', confirm: true });
      const late = { ...intentOf(payment.providerId), status: 'requires_payment_method' };

      await sut.deliver(
        stripeEvent('payment_intent.payment_failed', late, { created: now() + 60 }),
      );
      await sut.settle();

      expect((await sut.call('GET', `/payments/${payment.id}`)).json().status).toBe('succeeded');
    });

    it('ignores an older event, re-reads Stripe for one from the same second, and follows a newer one', async () => {
      const payment = await create({
        paymentMethod: 'pm_card_threeDSecure2Required',
        confirm: true,
      });
      const asOf = (await paymentRow(payment.id)).status_as_of;
      const pi = intentOf(payment.providerId);
      expect(pi.status).toBe('requires_action');
      const reads = retrievals().length;

      await sut.deliver(
        stripeEvent(
          'payment_intent.created',
          { ...pi, status: 'requires_payment_method' },
          { created: asOf - 100 },
        ),
      );
      await sut.settle();
      expect(await paymentRow(payment.id)).toMatchObject({
        status: 'requires_action',
        status_as_of: asOf,
      });
      expect(retrievals()).toHaveLength(reads);

      await sut.deliver(
        stripeEvent(
          'payment_intent.processing',
          { ...pi, status: 'processing' },
          { created: asOf },
        ),
      );
      await sut.settle();
      expect((await paymentRow(payment.id)).status).toBe('requires_action');
      expect(retrievals()).toHaveLength(reads + 1);

      const newer = (await paymentRow(payment.id)).status_as_of + 1;
      await sut.deliver(
        stripeEvent(
          'payment_intent.processing',
          { ...pi, status: 'processing' },
          { created: newer },
        ),
      );
      await sut.settle();
      expect(await paymentRow(payment.id)).toMatchObject({
        status: 'processing',
        status_as_of: newer,
      });
    });

    it('leaves a failing event failed, retries it, ends it dead, and a replay processes it', async () => {
      const payment = await create({});
      const asOf = (await paymentRow(payment.id)).status_as_of;
      const reads = retrievals().length;
      // Same second as what we hold: the handler must re-read Stripe, which is failing.
      sut.emulator.setFaults({ serverErrorRate: 1, pathPrefix: '/v1/' });
      const claim = { ...intentOf(payment.providerId), status: 'processing' };

      await sut.deliver(
        stripeEvent('payment_intent.processing', claim, { id: 'evt_doomed', created: asOf }),
      );
      await sut.settle();

      const dead = await eventRow('evt_doomed');
      expect(dead).toMatchObject({ status: 'dead', attempts: 3 });
      expect(dead?.last_error).toBeTruthy();
      expect((await paymentRow(payment.id)).status).toBe('requires_payment_method');

      sut.emulator.setFaults({});
      const replay = await sut.call(
        'POST',
        `/webhook-events/${dead?.id}/replay`,
        undefined,
        bearer(KEYS.admin),
      );
      expect(replay.statusCode).toBe(202);
      await sut.settle();

      expect(await eventRow('evt_doomed')).toMatchObject({ status: 'processed', last_error: null });
      // Stripe's answer wins over the ambiguous event's claim.
      expect((await paymentRow(payment.id)).status).toBe('requires_payment_method');
      expect(
        retrievals()
          .slice(reads)
          .filter((r) => r.status === 200),
      ).toHaveLength(1);
    });

    it('records a refund made outside Switchboard and counts it', async () => {
      const payment = await create({ paymentMethod: 'pm_card_visa', confirm: true });

      await sut.stripe.refunds.create({ payment_intent: payment.providerId, amount: 500 });
      await sut.settle();

      const refunds = await sut.db
        .selectFrom('refunds')
        .selectAll()
        .where('payment_id', '=', payment.id)
        .execute();
      expect(refunds).toMatchObject([{ amount: 500, status: 'succeeded', idempotency_key: null }]);
      expect((await sut.call('GET', `/payments/${payment.id}`)).json().amountRefunded).toBe(500);

      const rest = await sut.call('POST', `/payments/${payment.id}/refunds`, {});
      expect(rest.statusCode).toBe(201);
      expect(rest.json().amount).toBe(2000);
      await sut.settle();
      expect((await sut.call('GET', `/payments/${payment.id}`)).json().amountRefunded).toBe(2500);
    });
  });
});

describe('Payments with Stripe disabled', () => {
  let database: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    app = await startTestApp({
      env: { DATABASE_URL: database.url },
      imports: [JobsModule, WebhooksModule, PaymentsModule],
    });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('answers 503 provider_disabled on every payment route and the webhook', async () => {
    for (const [method, url] of [
      ['GET', '/payments'],
      ['GET', '/payments/pay_00000000000000000000000000'],
      ['POST', '/payments'],
    ] as const) {
      const res = await app.app.inject({ method, url, headers: bearer(KEYS.payments) });
      expect(res.statusCode).toBe(503);
      expect(res.json().code).toBe('provider_disabled');
    }
    const hook = await app.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      payload: '{}',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
    });
    expect(hook.statusCode).toBe(503);
    expect(hook.json().code).toBe('provider_disabled');
  });
});
