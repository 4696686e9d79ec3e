import Stripe from 'stripe';

import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import { StripeEmulator } from '../../src/sandbox/stripe/stripe.emulator';
import type { StripeState } from '../../src/sandbox/stripe/stripe.emulator';
import { assertRequestsMatchSpec, rawJson, stripeClient, stripeSchemas } from './stripe-support';

const SECRET_KEY = 'sk_test_emulator0000000000000000';

/** The JSON body of an SDK error, without what the SDK adds to it (headers, status, request id). */
function errorJson(err: unknown): { error: Record<string, unknown> } {
  if (!(err instanceof Stripe.errors.StripeError)) throw err;
  const {
    headers: _h,
    statusCode: _s,
    requestId: _r,
    ...error
  } = err.raw as Record<string, unknown>;
  return { error };
}

async function caught(
  promise: Promise<unknown>,
): Promise<InstanceType<typeof Stripe.errors.StripeError>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError) return err;
    throw err;
  }
  throw new Error('Expected the SDK call to fail.');
}

describe(StripeEmulator.name, () => {
  let server: EmulatorServer;
  let stripe: Stripe;
  let checkedBodies = 0;
  const schemas = stripeSchemas();

  const expectPaymentIntent = (pi: unknown): void =>
    schemas.paymentIntent.assert(pi, 'PaymentIntent');

  const confirmed = (
    paymentMethod: string,
    extra: Partial<Stripe.PaymentIntentCreateParams> = {},
  ) =>
    stripe.paymentIntents.create({
      amount: 2000,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
      payment_method: paymentMethod,
      confirm: true,
      ...extra,
    });

  beforeAll(async () => {
    server = new EmulatorServer(new StripeEmulator({ secretKey: SECRET_KEY }));
    await server.start();
    stripe = stripeClient(server, SECRET_KEY);
  });

  afterEach(() => {
    // Every form body the SDK sent must be one the 2022 spec accepts.
    checkedBodies += assertRequestsMatchSpec(server);
    server.reset();
  });

  afterAll(async () => {
    await server.stop();
    expect(checkedBodies).toBeGreaterThan(30);
  });

  describe('PaymentIntents', () => {
    it('creates one awaiting a payment method, with bracket-encoded params parsed', async () => {
      const sut = await stripe.paymentIntents.create({
        amount: 1099,
        currency: 'EUR',
        description: 'Order 42',
        metadata: { order: '42', customer_ref: 'c-7' },
        allowed_payment_method_types: ['card'],
      });

      expectPaymentIntent(rawJson(sut));
      expect(sut).toMatchObject({
        object: 'payment_intent',
        amount: 1099,
        amount_received: 0,
        currency: 'eur',
        status: 'requires_payment_method',
        livemode: false,
        metadata: { order: '42', customer_ref: 'c-7' },
        allowed_payment_method_types: ['card'],
        payment_method_types: ['card'],
        payment_method: null,
        latest_charge: null,
        last_payment_error: null,
        cancellation_reason: null,
        confirmation_method: 'automatic',
        capture_method: 'automatic_async',
        customer: null,
        description: 'Order 42',
      });
      expect(sut.id).toMatch(/^pi_[0-9A-Za-z]{24}$/);
      expect(sut.client_secret).toMatch(new RegExp(`^${sut.id}_secret_[0-9A-Za-z]+$`));
      expect(sut.lastResponse.requestId).toMatch(/^req_/);

      const again = await stripe.paymentIntents.retrieve(sut.id);
      expect(rawJson(again)).toEqual(rawJson(sut));
    });

    it('enables automatic payment methods by default and then requires a return_url to confirm', async () => {
      const sut = await stripe.paymentIntents.create({ amount: 500, currency: 'usd' });
      expect(sut.automatic_payment_methods).toEqual({ enabled: true });

      const err = await caught(
        stripe.paymentIntents.confirm(sut.id, { payment_method: 'pm_card_visa' }),
      );
      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err.param).toBe('return_url');

      const noRedirects = await confirmed('pm_card_visa', {
        allowed_payment_method_types: undefined,
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      });
      expect(noRedirects.status).toBe('succeeded');
    });

    it('renders and accepts what the API version of the request defines', async () => {
      const legacy = await fetch(`${server.url}/v1/payment_intents`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${SECRET_KEY}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          'Stripe-Version': '2022-11-15',
        },
        body: 'amount=700&currency=usd&payment_method_types[0]=card',
      });
      expect(legacy.status).toBe(200);
      expect(legacy.headers.get('stripe-version')).toBe('2022-11-15');
      expect(await legacy.json()).toMatchObject({
        capture_method: 'automatic',
        automatic_payment_methods: null,
        payment_method_types: ['card'],
      });

      // The SDK's pinned version (2026-10-28.endive) no longer has that parameter.
      const err = await caught(
        stripe.paymentIntents.create({
          amount: 700,
          currency: 'usd',
          payment_method_types: ['card'],
        } as Stripe.PaymentIntentCreateParams),
      );
      expect(err).toMatchObject({
        statusCode: 400,
        code: 'parameter_unknown',
        param: 'payment_method_types',
      });
      server.reset();
    });

    it('pm_card_visa succeeds: a charge, the amount received, a real pm_ id', async () => {
      const sut = await confirmed('pm_card_visa');

      expectPaymentIntent(rawJson(sut));
      expect(sut.status).toBe('succeeded');
      expect(sut.amount_received).toBe(2000);
      expect(sut.latest_charge).toMatch(/^ch_/);
      expect(sut.payment_method).toMatch(/^pm_[0-9A-Za-z]{24}$/);

      const expanded = await stripe.paymentIntents.retrieve(sut.id, { expand: ['latest_charge'] });
      const charge = expanded.latest_charge as Stripe.Charge;
      schemas.charge.assert(JSON.parse(JSON.stringify(charge)), 'Charge');
      expect(charge).toMatchObject({
        status: 'succeeded',
        paid: true,
        captured: true,
        amount_captured: 2000,
        payment_intent: sut.id,
      });
    });

    it.each([
      ['pm_card_chargeDeclined', 'card_declined', 'generic_decline'],
      ['pm_card_chargeDeclinedInsufficientFunds', 'card_declined', 'insufficient_funds'],
      ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'expired_card'],
      ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', 'incorrect_cvc'],
    ])(
      '%s is declined with 402 %s / %s and the PI needs a new payment method',
      async (pm, code, declineCode) => {
        const err = await caught(confirmed(pm));

        expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
        expect(err.statusCode).toBe(402);
        expect(err.code).toBe(code);
        expect(err.decline_code).toBe(declineCode);
        expect(err.charge).toMatch(/^ch_/);
        const body = errorJson(err);
        schemas.error.assert(body, 'card error');
        const intent = body.error.payment_intent as Stripe.PaymentIntent;
        expect(intent.status).toBe('requires_payment_method');

        const sut = await stripe.paymentIntents.retrieve(intent.id);
        expectPaymentIntent(rawJson(sut));
        expect(sut.status).toBe('requires_payment_method');
        expect(sut.payment_method).toBeNull();
        expect(sut.last_payment_error).toMatchObject({
          type: 'card_error',
          code,
          decline_code: declineCode,
          charge: err.charge,
        });
        expect(sut.last_payment_error?.payment_method?.id).toMatch(/^pm_/);
      },
    );

    it('pm_card_authenticationRequired needs 3D Secure: requires_action with next_action', async () => {
      const sut = await confirmed('pm_card_authenticationRequired');

      expectPaymentIntent(rawJson(sut));
      expect(sut.status).toBe('requires_action');
      expect(sut.next_action?.type).toBe('use_stripe_sdk');
      expect(sut.latest_charge).toBeNull();

      const withReturnUrl = await confirmed('pm_card_authenticationRequired', {
        return_url: 'https://shop.example/back',
      });
      expect(withReturnUrl.next_action).toMatchObject({
        type: 'redirect_to_url',
        redirect_to_url: { return_url: 'https://shop.example/back' },
      });
    });

    it('pm_card_authenticationRequired off session is declined with authentication_required', async () => {
      const err = await caught(confirmed('pm_card_authenticationRequired', { off_session: true }));

      expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(err.code).toBe('authentication_required');
      expect(err.decline_code).toBe('authentication_required');
      schemas.error.assert(errorJson(err), 'card error');
    });

    it('completes 3D Secure on trigger: requires_action → succeeded', async () => {
      const pi = await confirmed('pm_card_authenticationRequired');

      const res = await fetch(`${server.url}/__sandbox/trigger`, {
        method: 'POST',
        body: JSON.stringify({ type: 'payment_intent.succeeded', paymentIntent: pi.id }),
      });
      expect(res.status).toBe(200);

      const sut = await stripe.paymentIntents.retrieve(pi.id);
      expect(sut.status).toBe('succeeded');
      expect(sut.amount_received).toBe(2000);
    });

    it('confirms in a second call, with the payment method given at creation', async () => {
      const created = await stripe.paymentIntents.create({
        amount: 1500,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
        payment_method: 'pm_card_visa',
      });
      expect(created.status).toBe('requires_confirmation');

      const sut = await stripe.paymentIntents.confirm(created.id);
      expectPaymentIntent(rawJson(sut));
      expect(sut.status).toBe('succeeded');
    });

    it('refuses to confirm without a payment method', async () => {
      const created = await stripe.paymentIntents.create({
        amount: 1500,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
      });

      const err = await caught(stripe.paymentIntents.confirm(created.id));
      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err.code).toBe('payment_intent_unexpected_state');
      schemas.error.assert(errorJson(err), 'error');
    });

    it('with manual capture, a successful confirmation waits in requires_capture; capture completes it', async () => {
      const pi = await confirmed('pm_card_visa', { capture_method: 'manual' });
      expect(pi).toMatchObject({
        status: 'requires_capture',
        amount_capturable: 2000,
        amount_received: 0,
      });

      const sut = await stripe.paymentIntents.capture(pi.id);
      expectPaymentIntent(rawJson(sut));
      expect(sut).toMatchObject({
        status: 'succeeded',
        amount_capturable: 0,
        amount_received: 2000,
      });
    });

    it('cancels with a reason; a succeeded one cannot be canceled', async () => {
      const pending = await stripe.paymentIntents.create({
        amount: 900,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
      });

      const sut = await stripe.paymentIntents.cancel(pending.id, {
        cancellation_reason: 'requested_by_customer',
      });
      expectPaymentIntent(rawJson(sut));
      expect(sut.status).toBe('canceled');
      expect(sut.cancellation_reason).toBe('requested_by_customer');
      expect(sut.canceled_at).toEqual(expect.any(Number));

      const paid = await confirmed('pm_card_visa');
      const err = await caught(stripe.paymentIntents.cancel(paid.id));
      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err.statusCode).toBe(400);
      expect(err.code).toBe('payment_intent_unexpected_state');
      schemas.error.assert(errorJson(err), 'error');
    });

    it('answers 404 resource_missing for an unknown id', async () => {
      const err = await caught(stripe.paymentIntents.retrieve('pi_doesnotexist'));

      expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(err.statusCode).toBe(404);
      expect(err.code).toBe('resource_missing');
      expect(err.param).toBe('intent');
      schemas.error.assert(errorJson(err), 'error');
    });

    it('validates parameters as Stripe does', async () => {
      const missing = await caught(
        stripe.paymentIntents.create({ currency: 'usd' } as Stripe.PaymentIntentCreateParams),
      );
      expect(missing).toMatchObject({
        statusCode: 400,
        code: 'parameter_missing',
        param: 'amount',
      });

      const unknown = await caught(
        stripe.paymentIntents.create({
          amount: 100,
          currency: 'usd',
          colour: 'red',
        } as Stripe.PaymentIntentCreateParams),
      );
      expect(unknown).toMatchObject({
        statusCode: 400,
        code: 'parameter_unknown',
        param: 'colour',
      });

      const tooSmall = await caught(stripe.paymentIntents.create({ amount: 10, currency: 'usd' }));
      expect(tooSmall).toMatchObject({
        statusCode: 400,
        code: 'amount_too_small',
        param: 'amount',
      });

      const badPm = await caught(confirmed('pm_nope'));
      expect(badPm).toMatchObject({
        statusCode: 400,
        code: 'resource_missing',
        param: 'payment_method',
      });

      // These bodies are wrong on purpose; keep them out of the spec check in afterEach.
      server.reset();
    });
  });

  describe('Refunds', () => {
    it('refunds part, then the rest by default, then refuses more', async () => {
      const pi = await confirmed('pm_card_visa', { amount: 5000 });

      const part = await stripe.refunds.create({
        payment_intent: pi.id,
        amount: 1200,
        reason: 'requested_by_customer',
      });
      schemas.refund.assert(rawJson(part), 'Refund');
      expect(part).toMatchObject({
        object: 'refund',
        amount: 1200,
        status: 'succeeded',
        payment_intent: pi.id,
        charge: pi.latest_charge,
        reason: 'requested_by_customer',
        currency: 'usd',
      });
      expect(part.id).toMatch(/^re_/);

      const rest = await stripe.refunds.create({ payment_intent: pi.id });
      expect(rest.amount).toBe(3800);

      const over = await caught(stripe.refunds.create({ payment_intent: pi.id, amount: 1 }));
      expect(over).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(over.code).toBe('charge_already_refunded');
      schemas.error.assert(errorJson(over), 'error');

      const fetched = await stripe.refunds.retrieve(part.id);
      expect(rawJson(fetched)).toEqual(rawJson(part));

      const state = server.state() as StripeState;
      expect(state.charges[0]).toMatchObject({ amount_refunded: 5000, refunded: true });
    });

    it('refuses a refund larger than what remains', async () => {
      const pi = await confirmed('pm_card_visa', { amount: 1000 });
      await stripe.refunds.create({ payment_intent: pi.id, amount: 600 });

      const err = await caught(stripe.refunds.create({ payment_intent: pi.id, amount: 401 }));
      expect(err).toMatchObject({
        statusCode: 400,
        type: 'StripeInvalidRequestError',
        param: 'amount',
      });
      expect(err.message).toBe(
        'Refund amount ($4.01) is greater than unrefunded amount on charge ($4.00)',
      );
    });

    it('refunds only a succeeded payment', async () => {
      const pi = await stripe.paymentIntents.create({
        amount: 1000,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
      });

      const err = await caught(stripe.refunds.create({ payment_intent: pi.id }));
      expect(err).toMatchObject({ statusCode: 400, code: 'payment_intent_unexpected_state' });

      const unknown = await caught(stripe.refunds.retrieve('re_missing'));
      expect(unknown).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    });
  });

  describe('idempotency', () => {
    it('replays the first response for the same key and parameters', async () => {
      const params: Stripe.PaymentIntentCreateParams = {
        amount: 3000,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
        metadata: { order: '9' },
      };
      const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-9' });
      const sut = await stripe.paymentIntents.create(params, { idempotencyKey: 'order-9' });

      expect(rawJson(sut)).toEqual(rawJson(first));
      expect(sut.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(sut.lastResponse.headers['original-request']).toBe(first.lastResponse.requestId);
      expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
      expect((server.state() as StripeState).paymentIntents).toHaveLength(1);
    });

    it('replays errors too: a declined payment stays the same decline', async () => {
      const first = await caught(confirmed('pm_card_chargeDeclined', { metadata: { try: '1' } }));
      expect(first).toBeInstanceOf(Stripe.errors.StripeCardError);
      const key = first.headers?.['idempotency-key'];
      expect(key).toBeDefined();

      const sut = await caught(
        stripe.paymentIntents.create(
          {
            amount: 2000,
            currency: 'usd',
            allowed_payment_method_types: ['card'],
            payment_method: 'pm_card_chargeDeclined',
            confirm: true,
            metadata: { try: '1' },
          },
          { idempotencyKey: key },
        ),
      );
      expect(sut).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect(errorJson(sut)).toEqual(errorJson(first));
      expect(sut.headers?.['idempotent-replayed']).toBe('true');
      expect((server.state() as StripeState).charges).toHaveLength(1);
    });

    it('refuses the same key with other parameters (idempotency_error)', async () => {
      await stripe.paymentIntents.create(
        { amount: 3000, currency: 'usd', allowed_payment_method_types: ['card'] },
        { idempotencyKey: 'k-1' },
      );

      const err = await caught(
        stripe.paymentIntents.create(
          { amount: 3001, currency: 'usd', allowed_payment_method_types: ['card'] },
          { idempotencyKey: 'k-1' },
        ),
      );
      expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
      expect(err.statusCode).toBe(400);
      schemas.error.assert(errorJson(err), 'error');

      const otherEndpoint = await caught(
        stripe.refunds.create({ payment_intent: 'pi_x' }, { idempotencyKey: 'k-1' }),
      );
      expect(otherEndpoint).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    });
  });

  describe('authentication', () => {
    it('rejects a wrong key with 401 in Stripe error JSON', async () => {
      const wrong = stripeClient(server, 'sk_test_wrongwrongwrongwrong1234');
      const err = await caught(wrong.paymentIntents.retrieve('pi_x'));

      expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect(err.statusCode).toBe(401);
      expect(err.message).toBe('Invalid API Key provided: sk_test_********************1234');
      schemas.error.assert(errorJson(err), 'error');
    });

    it('rejects a request without a key, and accepts Basic auth with the key as user name', async () => {
      const none = await fetch(`${server.url}/v1/events`);
      expect(none.status).toBe(401);
      const body: unknown = await none.json();
      schemas.error.assert(body, 'error');
      expect(body).toMatchObject({
        error: {
          type: 'invalid_request_error',
          message: expect.stringContaining('did not provide an API key'),
        },
      });

      const basic = await fetch(`${server.url}/v1/events`, {
        headers: { Authorization: `Basic ${Buffer.from(`${SECRET_KEY}:`).toString('base64')}` },
      });
      expect(basic.status).toBe(200);
    });

    it('answers an unknown URL with 404 in Stripe error JSON', async () => {
      const res = await fetch(`${server.url}/v1/charges/ch_1/dispute`, {
        headers: { Authorization: `Bearer ${SECRET_KEY}` },
      });
      expect(res.status).toBe(404);
      schemas.error.assert(await res.json(), 'error');
    });
  });

  describe('Events', () => {
    it('lists events newest first, with limit and starting_after', async () => {
      const pi = await confirmed('pm_card_visa');
      await stripe.refunds.create({ payment_intent: pi.id, amount: 100 });

      const page = await stripe.events.list({ limit: 3 });
      schemas.eventList.assert(rawJson(page), 'event list');
      expect(page.data.map((e) => e.type)).toEqual([
        'charge.refunded',
        'refund.created',
        'payment_intent.succeeded',
      ]);
      expect(page.has_more).toBe(true);

      const next = await stripe.events.list({ limit: 3, starting_after: page.data[2].id });
      expect(next.data.map((e) => e.type)).toEqual(['charge.succeeded', 'payment_intent.created']);
      expect(next.has_more).toBe(false);

      const created = next.data[1];
      expect(created).toMatchObject({
        object: 'event',
        livemode: false,
        pending_webhooks: 0,
        data: { object: { id: pi.id, status: 'requires_confirmation' } },
        request: { id: pi.lastResponse.requestId, idempotency_key: pi.lastResponse.idempotencyKey },
      });
      expect(created.id).toMatch(/^evt_/);
      schemas.event.assert(rawJson(created), 'Event');
      schemas.paymentIntent.assert(
        JSON.parse(JSON.stringify(created.data.object)),
        'event data.object',
      );

      const one = await stripe.events.retrieve(created.id);
      expect(rawJson(one)).toEqual(rawJson(created));
    });

    it('records payment_intent.payment_failed and canceled', async () => {
      await caught(confirmed('pm_card_chargeDeclined'));
      const pending = await stripe.paymentIntents.create({
        amount: 700,
        currency: 'usd',
        allowed_payment_method_types: ['card'],
      });
      await stripe.paymentIntents.cancel(pending.id);

      const types = (await stripe.events.list({ limit: 100 })).data.map((e) => e.type);
      expect(types).toEqual(
        expect.arrayContaining([
          'payment_intent.payment_failed',
          'charge.failed',
          'payment_intent.canceled',
        ]),
      );
      const failed = await stripe.events.list({ type: 'payment_intent.*', limit: 100 });
      expect(failed.data.every((e) => e.type.startsWith('payment_intent.'))).toBe(true);
    });
  });
});
