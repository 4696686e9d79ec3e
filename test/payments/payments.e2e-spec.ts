import { PaymentStateService } from '../../src/payments/payment-state.service';
import { PaymentsService } from '../../src/payments/payments.service';
import { bearer, KEYS } from '../helpers/app';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { PaymentsTestApp, startPaymentsTestApp } from './payments-test-app';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describeEachDialect(PaymentsService.name, (target) => {
  let database: TestDatabase;
  let sut: PaymentsTestApp;

  const create = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    sut.call('POST', '/payments', { amount: 2500, currency: 'USD', ...body }, headers);
  const paid = async (amount = 2500): Promise<{ id: string; providerId: string }> => {
    const res = await create({ amount, paymentMethod: 'pm_card_visa', confirm: true });
    expect(res.statusCode).toBe(201);
    return res.json();
  };
  const requestsTo = (path: string) =>
    sut.emulator.requests().filter((r) => r.method === 'POST' && r.path.startsWith(path));

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
    it('creates a PaymentIntent and answers 201 with the Payment and its clientSecret', async () => {
      const res = await create({
        description: 'Order 1234',
        metadata: { orderId: '1234' },
        captureMethod: 'automatic',
      });

      expect(res.statusCode).toBe(201);
      const body = res.json();
      const [intent] = sut.stripeState().paymentIntents;
      expect(body).toEqual({
        id: expect.stringMatching(/^pay_[0-9a-z]{26}$/),
        provider: 'stripe',
        providerId: intent.id,
        status: 'requires_payment_method',
        amount: 2500,
        amountRefunded: 0,
        currency: 'usd',
        description: 'Order 1234',
        customer: null,
        metadata: { orderId: '1234' },
        lastError: null,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        clientSecret: intent.client_secret,
      });
      expect(Object.keys(body)).toEqual([
        'id',
        'provider',
        'providerId',
        'status',
        'amount',
        'amountRefunded',
        'currency',
        'description',
        'customer',
        'metadata',
        'lastError',
        'createdAt',
        'updatedAt',
        'clientSecret',
      ]);
      expect(intent).toMatchObject({
        amount: 2500,
        currency: 'usd',
        description: 'Order 1234',
        metadata: { orderId: '1234' },
        capture_method: 'automatic',
      });
      // Stripe got a key of ours, not one the SDK made up.
      expect(requestsTo('/v1/payment_intents')[0].headers['idempotency-key']).toMatch(
        /^sb_pay_[0-9a-z]{26}:payment\.create$/,
      );

      const read = await sut.call('GET', `/payments/${body.id}`);
      expect(read.statusCode).toBe(200);
      const { clientSecret: _secret, ...payment } = body;
      expect(read.json()).toEqual({ ...payment, updatedAt: expect.stringMatching(ISO) });
    });

    it('follows the signed payment_intent.succeeded webhook to succeeded', async () => {
      // A card that needs 3D Secure: the payment waits for the customer, then the webhook says it went through.
      const res = await create({ paymentMethod: 'pm_card_threeDSecure2Required', confirm: true });
      expect(res.statusCode).toBe(201);
      const { id, providerId, status } = res.json();
      expect(status).toBe('requires_action');
      await sut.settle();

      sut.emulator.trigger({ type: 'payment_intent.succeeded', paymentIntent: providerId });
      await sut.settle();

      const delivered = sut.emulator
        .deliveries()
        .map((d) => JSON.parse(d.body) as { id: string; type: string });
      const succeeded = delivered.find((e) => e.type === 'payment_intent.succeeded');
      expect(succeeded).toBeDefined();
      const row = await sut.db
        .selectFrom('webhook_events')
        .selectAll()
        .where('provider', '=', 'stripe')
        .where('event_id', '=', succeeded?.id ?? '')
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ type: 'payment_intent.succeeded', status: 'processed' });
      expect(sut.emulator.deliveries().every((d) => d.delivered)).toBe(true);
      expect((await sut.call('GET', `/payments/${id}`)).json()).toMatchObject({
        status: 'succeeded',
        lastError: null,
      });
    });

    it('answers a decline with 402 card_declined and records the payment', async () => {
      const res = await create({
        paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds',
        confirm: true,
      });

      expect(res.statusCode).toBe(402);
      const body = res.json();
      expect(body).toMatchObject({
        statusCode: 402,
        code: 'card_declined',
        message: 'the card has insufficient funds',
        details: [{ paymentId: expect.stringMatching(/^pay_/), declineCode: 'insufficient_funds' }],
      });
      expect(res.body).not.toMatch(/Your card/);
      const read = await sut.call('GET', `/payments/${body.details[0].paymentId}`);
      expect(read.statusCode).toBe(200);
      expect(read.json()).toMatchObject({
        providerId: sut.stripeState().paymentIntents[0].id,
        status: 'requires_payment_method',
        lastError: { code: 'card_declined', message: 'the card has insufficient funds' },
      });
    });

    it('answers 422 provider_rejected without Stripe’s message and records nothing', async () => {
      const before = (await sut.call('GET', '/payments?limit=100')).json().data.length;
      const res = await create({ customer: 'not-a-customer' });

      expect(res.statusCode).toBe(422);
      expect(res.json()).toMatchObject({
        code: 'provider_rejected',
        message: 'Stripe rejected the request: check customer',
      });
      expect(res.body).not.toMatch(/No such customer/);
      expect((await sut.call('GET', '/payments?limit=100')).json().data).toHaveLength(before);
      expect(
        await sut.db.selectFrom('payments').select('id').where('provider_id', 'is', null).execute(),
      ).toEqual([]);
    });

    it.each([
      ['amount 0', { amount: 0 }, 'amount'],
      ['amount too large', { amount: 100_000_000 }, 'amount'],
      ['a fractional amount', { amount: 10.5 }, 'amount'],
      ['a bad currency', { currency: 'us' }, 'currency'],
      ['an unknown captureMethod', { captureMethod: 'later' }, 'captureMethod'],
      [
        'metadata with 51 pairs',
        { metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
        'metadata',
      ],
      ['a metadata key over 40 characters', { metadata: { ['k'.repeat(41)]: 'v' } }, 'metadata'],
      ['a metadata value over 500 characters', { metadata: { k: 'v'.repeat(501) } }, 'metadata'],
      ['a non-string metadata value', { metadata: { k: 1 } }, 'metadata'],
      ['an unknown field', { tip: 5 }, 'tip'],
    ])(
      'answers 400 validation_failed for %s, without calling Stripe',
      async (_name, body, field) => {
        const res = await create(body);
        expect(res.statusCode).toBe(400);
        expect(res.json()).toMatchObject({
          code: 'validation_failed',
          details: expect.arrayContaining([expect.objectContaining({ field })]),
        });
        expect(sut.emulator.requests()).toEqual([]);
      },
    );

    it('needs the payments scope', async () => {
      const denied = await create({}, bearer(KEYS.sms));
      expect(denied.statusCode).toBe(403);
      const allowed = await create({}, bearer(KEYS.payments));
      expect(allowed.statusCode).toBe(201);
    });

    it('creates exactly one PaymentIntent for 10 concurrent requests with the same Idempotency-Key', async () => {
      // Stripe answers slowly, so all ten arrive while the first is still running.
      sut.emulator.queueFaults([{ kind: 'latency', ms: 200 }]);
      const headers = { 'idempotency-key': 'order-77-attempt' };

      const responses = await Promise.all(
        Array.from({ length: 10 }, () => create({ amount: 7700 }, headers)),
      );

      const statuses = responses.map((r) => r.statusCode).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(9);
      expect(sut.stripeState().paymentIntents).toHaveLength(1);
      const first = responses.find((r) => r.statusCode === 201)?.json();
      const replay = await create({ amount: 7700 }, headers);
      expect(replay.statusCode).toBe(201);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(first);
      expect(sut.stripeState().paymentIntents).toHaveLength(1);
      const rows = await sut.db
        .selectFrom('payments')
        .select('id')
        .where('amount', '=', 7700)
        .execute();
      expect(rows).toEqual([{ id: first.id }]);
      // Stripe's key derives from ours but does not reveal it.
      const key = requestsTo('/v1/payment_intents')[0].headers['idempotency-key'];
      expect(key).toMatch(/^sb_[A-Za-z0-9_-]{43}:payment\.create$/);
      expect(key).not.toContain('order-77');
    });
  });

  describe('GET /payments', () => {
    it('lists newest first with a status filter and cursor pagination', async () => {
      const made: string[] = [];
      for (let i = 0; i < 3; i++) made.push((await create({ amount: 1000 + i })).json().id);
      const { id: succeeded } = await paid(1500);

      const page1 = await sut.call('GET', '/payments?limit=2');
      expect(page1.statusCode).toBe(200);
      expect(page1.json().data.map((p: { id: string }) => p.id)).toEqual([succeeded, made[2]]);
      expect(page1.json().data[0]).not.toHaveProperty('clientSecret');
      const page2 = await sut.call('GET', `/payments?limit=2&cursor=${page1.json().nextCursor}`);
      expect(
        page2
          .json()
          .data.map((p: { id: string }) => p.id)
          .slice(0, 2),
      ).toEqual([made[1], made[0]]);

      const filtered = await sut.call('GET', '/payments?status=succeeded&limit=100');
      expect(filtered.json().data.map((p: { id: string }) => p.id)).toContain(succeeded);
      expect(filtered.json().data.every((p: { status: string }) => p.status === 'succeeded')).toBe(
        true,
      );
    });

    it.each([
      ['an unknown status', '/payments?status=paid'],
      ['a bad limit', '/payments?limit=0'],
      ['a malformed cursor', '/payments?cursor=abc'],
      ['an unknown parameter', '/payments?sort=asc'],
    ])('answers 400 for %s', async (_name, url) => {
      const res = await sut.call('GET', url);
      expect(res.statusCode).toBe(400);
      expect(res.json().code).toBe('validation_failed');
    });

    it('answers 404 for an unknown id', async () => {
      const res = await sut.call('GET', '/payments/pay_00000000000000000000000000');
      expect(res.statusCode).toBe(404);
      expect(res.json().code).toBe('not_found');
    });
  });

  describe('POST /payments/:id/refunds', () => {
    it('refunds part, then the rest, and refuses more with 422 without calling Stripe', async () => {
      const payment = await paid(2500);

      const partial = await sut.call('POST', `/payments/${payment.id}/refunds`, {
        amount: 1000,
        reason: 'requested_by_customer',
      });
      expect(partial.statusCode).toBe(201);
      const [stripeRefund] = sut.stripeState().refunds;
      expect(partial.json()).toEqual({
        id: expect.stringMatching(/^ref_[0-9a-z]{26}$/),
        paymentId: payment.id,
        providerId: stripeRefund.id,
        amount: 1000,
        reason: 'requested_by_customer',
        status: 'succeeded',
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
      });
      expect((await sut.call('GET', `/payments/${payment.id}`)).json().amountRefunded).toBe(1000);

      const rest = await sut.call('POST', `/payments/${payment.id}/refunds`, {});
      expect(rest.statusCode).toBe(201);
      expect(rest.json()).toMatchObject({ amount: 1500, reason: null, status: 'succeeded' });
      expect((await sut.call('GET', `/payments/${payment.id}`)).json()).toMatchObject({
        status: 'succeeded',
        amountRefunded: 2500,
      });

      const sent = requestsTo('/v1/refunds').length;
      const more = await sut.call('POST', `/payments/${payment.id}/refunds`, { amount: 1 });
      expect(more.statusCode).toBe(422);
      expect(more.json().code).toBe('refund_exceeds_payment');
      const none = await sut.call('POST', `/payments/${payment.id}/refunds`, {});
      expect(none.statusCode).toBe(422);
      expect(requestsTo('/v1/refunds')).toHaveLength(sent);

      await sut.settle();
      // The refund webhooks (refund.created, charge.refunded) change nothing more.
      expect((await sut.call('GET', `/payments/${payment.id}`)).json().amountRefunded).toBe(2500);
      expect(
        await sut.db
          .selectFrom('refunds')
          .select('id')
          .where('payment_id', '=', payment.id)
          .execute(),
      ).toHaveLength(2);
    });

    it('answers 422 for an amount over the payment at once', async () => {
      const payment = await paid(2500);
      const res = await sut.call('POST', `/payments/${payment.id}/refunds`, { amount: 2501 });
      expect(res.statusCode).toBe(422);
      expect(res.json().code).toBe('refund_exceeds_payment');
      expect(requestsTo('/v1/refunds')).toHaveLength(0);
    });

    it('answers 409 invalid_state for a payment that has not succeeded, and 404 for an unknown one', async () => {
      const unpaid = (await create({})).json();
      const res = await sut.call('POST', `/payments/${unpaid.id}/refunds`, {});
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('invalid_state');
      const unknown = await sut.call(
        'POST',
        '/payments/pay_00000000000000000000000000/refunds',
        {},
      );
      expect(unknown.statusCode).toBe(404);
    });
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await sut.call('GET', '/docs/openapi.json')).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/payments',
        '/payments/{id}',
        '/payments/{id}/refunds',
        '/payments/{id}/cancel',
        '/webhooks/stripe',
      ]),
    );
    expect(doc.components.schemas.CreatePaymentDto.required).toEqual(['amount', 'currency']);
    expect(Object.keys(doc.components.schemas.CreatedPaymentDto.properties)).toContain(
      'clientSecret',
    );
  });

  describe('POST /payments/:id/cancel', () => {
    it('cancels, then answers 409 invalid_state', async () => {
      const payment = (await create({})).json();

      const res = await sut.call('POST', `/payments/${payment.id}/cancel`, { reason: 'abandoned' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ id: payment.id, status: 'canceled' });
      expect(res.json()).not.toHaveProperty('clientSecret');
      expect(sut.stripeState().paymentIntents[0]).toMatchObject({
        status: 'canceled',
        cancellation_reason: 'abandoned',
      });

      const again = await sut.call('POST', `/payments/${payment.id}/cancel`);
      expect(again.statusCode).toBe(409);
      expect(again.json().code).toBe('invalid_state');
    });

    it('stores the cancel from Stripe’s answer, not from the webhook', async () => {
      const payment = (await create({})).json();
      await sut.settle();
      // Webhooks change nothing here: only the cancel's own answer can make the row canceled.
      const events = jest
        .spyOn(sut.app.get(PaymentStateService), 'onIntentEvent')
        .mockResolvedValue(undefined);
      try {
        const res = await sut.call('POST', `/payments/${payment.id}/cancel`, {});
        expect(res.statusCode).toBe(200);
        await sut.settle();
        expect((await sut.call('GET', `/payments/${payment.id}`)).json()).toMatchObject({
          status: 'canceled',
        });
      } finally {
        events.mockRestore();
      }
    });

    it('refuses to cancel a succeeded payment', async () => {
      const payment = await paid();
      const res = await sut.call('POST', `/payments/${payment.id}/cancel`, {});
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('invalid_state');
      expect(requestsTo('/v1/payment_intents/').filter((r) => r.path.endsWith('/cancel'))).toEqual(
        [],
      );
    });

    it('rejects an unknown reason', async () => {
      const payment = (await create({})).json();
      const res = await sut.call('POST', `/payments/${payment.id}/cancel`, { reason: 'bored' });
      expect(res.statusCode).toBe(400);
    });
  });
});
