import Stripe from 'stripe';

import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import { StripeEmulator } from '../../src/sandbox/stripe/stripe.emulator';
import { WebhookReceiver, stripeClient, stripeSchemas } from './stripe-support';
import type { ReceivedWebhook } from './stripe-support';

const SECRET_KEY = 'sk_test_webhooks00000000000000000';
const WEBHOOK_SECRET = 'whsec_test0123456789abcdef0123456789';

function signatureOf(webhook: ReceivedWebhook): string {
  const header = webhook.headers['stripe-signature'];
  if (typeof header !== 'string') throw new Error('No Stripe-Signature header.');
  return header;
}

describe(`${StripeEmulator.name} webhooks`, () => {
  const receiver = new WebhookReceiver();
  const schemas = stripeSchemas();
  let server: EmulatorServer;
  let stripe: Stripe;

  const pay = (paymentMethod = 'pm_card_visa') =>
    stripe.paymentIntents.create({
      amount: 2500,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
      payment_method: paymentMethod,
      confirm: true,
    });

  beforeAll(async () => {
    const base = await receiver.start();
    server = new EmulatorServer(
      new StripeEmulator({
        secretKey: SECRET_KEY,
        webhookUrl: `${base}/webhooks/stripe`,
        webhookSecret: WEBHOOK_SECRET,
      }),
      { delivery: { retryScheduleMs: [5, 10], timeoutMs: 1000 } },
    );
    await server.start();
    stripe = stripeClient(server, SECRET_KEY);
  });

  afterEach(async () => {
    await server.whenDeliveriesIdle();
    server.reset();
    receiver.clear();
  });

  afterAll(async () => {
    await server.stop();
    await receiver.stop();
  });

  it('posts each event signed so that stripe.webhooks.constructEvent accepts it', async () => {
    const pi = await pay();
    await server.whenDeliveriesIdle();

    expect(receiver.received.map((w) => (JSON.parse(w.body) as Stripe.Event).type)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.succeeded',
    ]);
    for (const webhook of receiver.received) {
      expect(webhook.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(webhook.headers['user-agent']).toMatch(/^Stripe\/1\.0/);
      expect(signatureOf(webhook)).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

      const sut = stripe.webhooks.constructEvent(
        webhook.body,
        signatureOf(webhook),
        WEBHOOK_SECRET,
      );

      schemas.event.assert(JSON.parse(webhook.body), 'webhook event');
      expect(sut).toMatchObject({ object: 'event', livemode: false, pending_webhooks: 1 });
      expect(sut.request).toEqual({
        id: pi.lastResponse.requestId,
        idempotency_key: pi.lastResponse.idempotencyKey,
      });
      const object = JSON.parse(JSON.stringify(sut.data.object)) as { object: string };
      (object.object === 'charge' ? schemas.charge : schemas.paymentIntent).assert(
        object,
        `${sut.type} data.object`,
      );
    }
    const succeeded = JSON.parse(receiver.received[2].body) as Stripe.PaymentIntentSucceededEvent;
    expect(succeeded.data.object).toMatchObject({
      id: pi.id,
      status: 'succeeded',
      amount_received: 2500,
    });
  });

  it('fails verification when one byte of the body changes, or with another secret', async () => {
    await pay();
    await server.whenDeliveriesIdle();
    const [webhook] = receiver.received;

    const altered = webhook.body.replace('"livemode": false', '"livemode": fals3');
    expect(altered).toHaveLength(webhook.body.length);
    expect(() =>
      stripe.webhooks.constructEvent(altered, signatureOf(webhook), WEBHOOK_SECRET),
    ).toThrow(Stripe.errors.StripeSignatureVerificationError);
    expect(() =>
      stripe.webhooks.constructEvent(webhook.body, signatureOf(webhook), 'whsec_other'),
    ).toThrow(Stripe.errors.StripeSignatureVerificationError);
  });

  it('sends the events of declines, cancellations and refunds', async () => {
    await pay('pm_card_chargeDeclinedInsufficientFunds').catch((err: unknown) => {
      if (!(err instanceof Stripe.errors.StripeCardError)) throw err;
    });
    const pending = await stripe.paymentIntents.create({
      amount: 800,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    await stripe.paymentIntents.cancel(pending.id, { cancellation_reason: 'abandoned' });
    const paid = await pay();
    await stripe.refunds.create({ payment_intent: paid.id, amount: 500 });
    await server.whenDeliveriesIdle();

    const events = receiver.received.map((w) =>
      stripe.webhooks.constructEvent(w.body, signatureOf(w), WEBHOOK_SECRET),
    );
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'payment_intent.payment_failed',
        'payment_intent.canceled',
        'refund.created',
        'charge.refunded',
      ]),
    );
    const failed = events.find(
      (e) => e.type === 'payment_intent.payment_failed',
    ) as Stripe.PaymentIntentPaymentFailedEvent;
    expect(failed.data.object.last_payment_error?.decline_code).toBe('insufficient_funds');
    const refunded = events.find((e) => e.type === 'charge.refunded') as Stripe.ChargeRefundedEvent;
    expect(refunded.data.object).toMatchObject({ amount_refunded: 500, refunded: false });
    expect(refunded.data.previous_attributes).toEqual({ amount_refunded: 0, refunded: false });
    schemas.refund.assert(
      JSON.parse(
        JSON.stringify(
          (events.find((e) => e.type === 'refund.created') as Stripe.RefundCreatedEvent).data
            .object,
        ),
      ),
      'refund.created data.object',
    );
  });

  it('redelivers after a non-2xx answer, re-signed, until the endpoint accepts', async () => {
    receiver.answerWith(500, 503);
    await stripe.paymentIntents.create({
      amount: 999,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    await server.whenDeliveriesIdle();

    const [sut] = server.deliveries();
    expect(sut.attempts.map((a) => a.status)).toEqual([500, 503, 200]);
    expect(sut.delivered).toBe(true);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((w) => w.body)).size).toBe(1);
    for (const webhook of receiver.received) {
      expect(() =>
        stripe.webhooks.constructEvent(webhook.body, signatureOf(webhook), WEBHOOK_SECRET),
      ).not.toThrow();
    }
  });

  it('gives up once the retry schedule is spent', async () => {
    receiver.answerWith(500, 500, 500, 500);
    await stripe.paymentIntents.create({
      amount: 999,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    await server.whenDeliveriesIdle();

    const [sut] = server.deliveries();
    expect(sut.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
    expect(sut.delivered).toBe(false);
  });

  it('resends a stored event with the same id on trigger', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 999,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    await server.whenDeliveriesIdle();
    const [{ id }] = (await stripe.events.list({ limit: 1 })).data;

    const res = await fetch(`${server.url}/__sandbox/trigger`, {
      method: 'POST',
      body: JSON.stringify({ resend: id }),
    });
    expect(res.status).toBe(200);
    await server.whenDeliveriesIdle();

    const ids = receiver.received.map(
      (w) => stripe.webhooks.constructEvent(w.body, signatureOf(w), WEBHOOK_SECRET).id,
    );
    expect(ids).toEqual([id, id]);

    const emitted = await fetch(`${server.url}/__sandbox/trigger`, {
      method: 'POST',
      body: JSON.stringify({ type: 'payment_intent.created', paymentIntent: pi.id }),
    });
    const body = (await emitted.json()) as { events: Stripe.Event[] };
    expect(body.events.map((e) => e.type)).toEqual(['payment_intent.created']);
    expect(body.events[0].id).not.toBe(id);

    const bad = await fetch(`${server.url}/__sandbox/trigger`, {
      method: 'POST',
      body: JSON.stringify({ type: 'payment_intent.succeeded', paymentIntent: 'pi_nope' }),
    });
    expect(bad.status).toBe(400);
  });

  it('records network errors as attempts and retries them', async () => {
    // A port that was free a moment ago: connections to it are refused.
    const closed = new WebhookReceiver();
    const closedUrl = await closed.start();
    await closed.stop();
    const unreachable = new EmulatorServer(
      new StripeEmulator({
        secretKey: SECRET_KEY,
        webhookUrl: `${closedUrl}/webhooks/stripe`,
        webhookSecret: WEBHOOK_SECRET,
      }),
      { delivery: { retryScheduleMs: [5], timeoutMs: 500 } },
    );
    await unreachable.start();
    try {
      await stripeClient(unreachable, SECRET_KEY).paymentIntents.create({
        amount: 999,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
      });
      await unreachable.whenDeliveriesIdle();

      const [sut] = unreachable.deliveries();
      expect(sut.attempts.map((a) => a.status)).toEqual(['network_error', 'network_error']);
      expect(sut.attempts[0].error).toEqual(expect.any(String));
      expect(sut.delivered).toBe(false);
    } finally {
      await unreachable.stop();
    }
  });
});
