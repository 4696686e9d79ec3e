import {
  PaymentsService,
  STRIPE_IDEMPOTENCY_WINDOW_MS,
  stripeIdempotencyKey,
} from '../../src/payments/payments.service';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { PaymentsTestApp, startPaymentsTestApp } from './payments-test-app';

/** The scope our interceptor gives a client key of the test's all-scopes API key. */
const scoped = (clientKey: string): string => `all:${clientKey}`;
const HOUR_MS = 60 * 60 * 1000;

/**
 * A client's `Idempotency-Key` through to Stripe when our own record of the
 * request is gone (not kept after a 5xx, or expired after 24 h): a retry acts
 * once, another request under the key is refused, and a key reused after
 * Stripe's window makes a new payment that we record.
 */
describeEachDialect(`${PaymentsService.name} idempotency with Stripe`, (target) => {
  let database: TestDatabase;
  let sut: PaymentsTestApp;

  const create = (body: Record<string, unknown>, key?: string) =>
    sut.call(
      'POST',
      '/payments',
      { amount: 2500, currency: 'usd', ...body },
      key ? { 'idempotency-key': key } : {},
    );
  const refund = (paymentId: string, body: Record<string, unknown>, key?: string) =>
    sut.call('POST', `/payments/${paymentId}/refunds`, body, key ? { 'idempotency-key': key } : {});
  const stripePosts = (path: string) =>
    sut.emulator.requests().filter((r) => r.method === 'POST' && r.path.startsWith(path));
  /** Both attempts of one call fail before Stripe acts (PROVIDER_MAX_RETRIES is 1). */
  const failNextCall = () =>
    sut.emulator.queueFaults([{ kind: 'unavailable' }, { kind: 'unavailable' }]);
  const paymentRow = (id: string) =>
    sut.db.selectFrom('payments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  /** Our record of the client's key, as if its 24 h had run out. */
  const forgetOurRecord = (key: string) =>
    sut.db.deleteFrom('idempotency_keys').where('key', '=', key).execute();
  const ageRows = (table: 'payments' | 'refunds', ms: number) =>
    sut.db
      .updateTable(table)
      .set({ created_at: new Date(Date.now() - ms).toISOString() })
      .execute();
  /**
   * Stripe acting on our create of 2500 usd under the client key, as if our request had reached
   * it and only the answer was lost: the test's own SDK sends it under the key we derive.
   */
  const stripeActsOn = (clientKey: string, paymentMethod: string) =>
    sut.stripe.paymentIntents.create(
      {
        amount: 2500,
        currency: 'usd',
        payment_method: paymentMethod,
        confirm: true,
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      },
      { idempotencyKey: stripeIdempotencyKey(scoped(clientKey), 'payment.create') },
    );
  const paid = async (): Promise<{ id: string; providerId: string }> => {
    const res = await create({ paymentMethod: 'pm_card_visa', confirm: true });
    expect(res.json()).toMatchObject({ status: 'succeeded' });
    return res.json();
  };

  beforeAll(async () => {
    database = await target.create();
    sut = await startPaymentsTestApp(database);
  });
  afterAll(async () => {
    await sut?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    await sut.settle();
    sut.emulator.reset();
  });

  describe('POST /payments', () => {
    it('refuses a retry after a 503 that changes the request, and sends it nowhere', async () => {
      failNextCall();
      const first = await create({ metadata: { order: 'A' } }, 'create-changed');
      expect(first.statusCode).toBe(503);
      const sent = stripePosts('/v1/payment_intents').length;

      const changed = await create({ currency: 'eur', metadata: { order: 'B' } }, 'create-changed');

      expect(changed.statusCode).toBe(422);
      expect(changed.json()).toMatchObject({ code: 'idempotency_key_reused' });
      expect(stripePosts('/v1/payment_intents')).toHaveLength(sent);
      expect(sut.stripeState().paymentIntents).toHaveLength(0);

      // The request it was made for still goes through, once.
      const same = await create({ metadata: { order: 'A' } }, 'create-changed');
      expect(same.statusCode).toBe(201);
      expect(same.json()).toMatchObject({ currency: 'usd', metadata: { order: 'A' } });
      expect(sut.stripeState().paymentIntents).toHaveLength(1);
    });

    it('keeps the payment when Stripe holds another request under the key, and the webhook links it', async () => {
      failNextCall();
      const first = await create(
        { paymentMethod: 'pm_card_visa', confirm: true },
        'create-stripe-has-it',
      );
      expect(first.statusCode).toBe(503);
      // A row from before fingerprints were kept (nothing to compare the retry with)...
      await sut.db
        .updateTable('payments')
        .set({ request_fingerprint: null })
        .where('status', '=', 'creating')
        .execute();
      // ...and Stripe did act on the first request after all (its answer was lost on the way).
      const stripeKey = stripeIdempotencyKey(scoped('create-stripe-has-it'), 'payment.create');
      const intent = await stripeActsOn('create-stripe-has-it', 'pm_card_visa');

      const changed = await create(
        { amount: 3000, paymentMethod: 'pm_card_visa', confirm: true },
        'create-stripe-has-it',
      );

      expect(changed.statusCode).toBe(422);
      expect(changed.json()).toMatchObject({ code: 'idempotency_key_reused' });
      expect(changed.body).not.toMatch(/idempotent requests|parameters/i);
      await sut.settle();
      const rows = await sut.db
        .selectFrom('payments')
        .selectAll()
        .where('idempotency_key', '=', stripeKey)
        .execute();
      expect(rows).toEqual([
        expect.objectContaining({ provider_id: intent.id, status: 'succeeded', amount: 2500 }),
      ]);
    });

    it('makes a new payment when a key comes back after Stripe’s 24 h, and records both', async () => {
      const first = await create({ paymentMethod: 'pm_card_visa', confirm: true }, 'order-42');
      expect(first.statusCode).toBe(201);
      await sut.settle();
      // A day later: our record is gone, and the row is older than Stripe keeps keys.
      await forgetOurRecord('order-42');
      await ageRows('payments', STRIPE_IDEMPOTENCY_WINDOW_MS + HOUR_MS);

      const again = await create(
        { amount: 9900, paymentMethod: 'pm_card_visa', confirm: true },
        'order-42',
      );

      expect(again.statusCode).toBe(201);
      const [firstIntent, secondIntent] = stripePosts('/v1/payment_intents');
      const base = stripeIdempotencyKey(scoped('order-42'), 'payment.create');
      expect(firstIntent.headers['idempotency-key']).toBe(base);
      expect(secondIntent.headers['idempotency-key']).toBe(`${base}:2`);
      expect(again.json()).toMatchObject({ amount: 9900, status: 'succeeded' });
      expect(again.json().id).not.toBe(first.json().id);
      expect(again.json().providerId).not.toBe(first.json().providerId);
      await sut.settle();
      const recorded = await Promise.all(
        [first, again].map(async (res) => paymentRow(res.json().id)),
      );
      expect(recorded.map((row) => [row.provider_id, row.amount, row.status])).toEqual([
        [first.json().providerId, 2500, 'succeeded'],
        [again.json().providerId, 9900, 'succeeded'],
      ]);

      // A retry of the new request (its answer lost) finds the new payment, not the old one.
      await forgetOurRecord('order-42');
      const retried = await create(
        { amount: 9900, paymentMethod: 'pm_card_visa', confirm: true },
        'order-42',
      );
      expect(retried.statusCode).toBe(201);
      expect(retried.json().id).toBe(again.json().id);
      expect(sut.stripeState().paymentIntents).toHaveLength(2);
    });

    it('does not let Stripe’s replay of a first answer move the payment back', async () => {
      const body = { paymentMethod: 'pm_card_threeDSecure2Required', confirm: true };
      failNextCall();
      expect((await create(body, 'create-replayed')).statusCode).toBe(503);
      // Stripe acted on it after all: the PaymentIntent waits for 3-D Secure.
      const intent = await stripeActsOn('create-replayed', 'pm_card_threeDSecure2Required');
      expect(intent.status).toBe('requires_action');
      await sut.settle();
      // The customer fails the challenge; the webhook says so.
      sut.emulator.trigger({ type: 'payment_intent.payment_failed', paymentIntent: intent.id });
      await sut.settle();
      const row = await sut.db
        .selectFrom('payments')
        .selectAll()
        .where('provider_id', '=', intent.id)
        .executeTakeFirstOrThrow();
      expect(row.status).toBe('requires_payment_method');

      const retry = await create(body, 'create-replayed');

      // Stripe answered the retry from its idempotency store: the state of the first request.
      const [replayed] = stripePosts('/v1/payment_intents').slice(-1);
      expect(replayed.headers['idempotency-key']).toBe(
        stripeIdempotencyKey(scoped('create-replayed'), 'payment.create'),
      );
      expect(sut.stripeState().paymentIntents).toHaveLength(1);
      expect(retry.statusCode).toBe(201);
      expect(retry.json()).toMatchObject({ id: row.id, status: 'requires_payment_method' });
      expect((await paymentRow(row.id)).status).toBe('requires_payment_method');
    });
  });

  describe('POST /payments/:id/refunds', () => {
    it('refuses a retry after a 503 that changes the amount, and refunds the first amount once', async () => {
      const payment = await paid();
      failNextCall();
      const first = await refund(payment.id, { amount: 2000 }, 'refund-changed');
      expect(first.statusCode).toBe(503);

      const changed = await refund(payment.id, { amount: 100 }, 'refund-changed');

      expect(changed.statusCode).toBe(422);
      expect(changed.json()).toMatchObject({ code: 'idempotency_key_reused' });
      expect(sut.stripeState().refunds).toHaveLength(0);
      const same = await refund(payment.id, { amount: 2000 }, 'refund-changed');
      expect(same.statusCode).toBe(201);
      expect(same.json()).toMatchObject({ amount: 2000 });
      expect(sut.stripeState().refunds).toHaveLength(1);
    });

    it('sends only one of two full refunds sent side by side to Stripe', async () => {
      const payment = await paid();
      const before = stripePosts('/v1/refunds').length;

      const answers = await Promise.all([refund(payment.id, {}), refund(payment.id, {})]);

      expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 422]);
      const refused = answers.find((r) => r.statusCode === 422);
      expect(refused?.json()).toMatchObject({ code: 'refund_exceeds_payment' });
      expect(stripePosts('/v1/refunds')).toHaveLength(before + 1);
      expect((await paymentRow(payment.id)).amount_refunded).toBe(2500);
    });

    it('holds the amount of a refund still on its way to Stripe, not of one lost long ago', async () => {
      const payment = await paid();
      // A refund of 2000 whose call has not answered (another request, another instance).
      const now = new Date().toISOString();
      await sut.db
        .insertInto('refunds')
        .values({
          id: 're_inflight_test_0001',
          payment_id: payment.id,
          provider_id: null,
          idempotency_key: 'sb_test:in-flight',
          amount: 2000,
          reason: null,
          status: 'creating',
          request_fingerprint: null,
          created_at: now,
          updated_at: now,
        })
        .execute();

      const tooMuch = await refund(payment.id, { amount: 1000 });
      expect(tooMuch.statusCode).toBe(422);
      expect(tooMuch.json()).toMatchObject({ code: 'refund_exceeds_payment' });
      expect(tooMuch.json().message).toMatch(/\(500\)/);
      expect(sut.stripeState().refunds).toHaveLength(0);

      // An hour later it was lost with its process (Stripe never got it): it holds nothing.
      await ageRows('refunds', HOUR_MS);
      const rest = await refund(payment.id, {});
      expect(rest.statusCode).toBe(201);
      expect(rest.json()).toMatchObject({ amount: 2500 });
    });
  });

  describe('POST /payments/:id/cancel', () => {
    it('gives each cancel without a client key its own Stripe key', async () => {
      const payment = (await create({})).json();
      failNextCall();
      expect((await sut.call('POST', `/payments/${payment.id}/cancel`, {})).statusCode).toBe(503);

      const again = await sut.call('POST', `/payments/${payment.id}/cancel`, {});

      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ status: 'canceled' });
      const keys = stripePosts(`/v1/payment_intents/${payment.providerId}/cancel`).map(
        (r) => r.headers['idempotency-key'],
      );
      // The SDK's own retry within one request keeps the request's key; the next request has another.
      expect(keys).toHaveLength(3);
      expect(keys[1]).toBe(keys[0]);
      expect(keys[2]).not.toBe(keys[0]);
      expect(keys[2]).toMatch(/\S/);
    });
  });
});
