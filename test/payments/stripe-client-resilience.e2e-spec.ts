import { stripeIdempotencyKey } from '../../src/payments/payments.service';
import { StripeClient } from '../../src/payments/stripe.client';
import { describeEachDialect, TestDatabase } from '../helpers/databases';
import {
  freePort,
  PAYMENTS_TEST_ENV,
  PaymentsTestApp,
  startPaymentsTestApp,
} from './payments-test-app';

const TIMEOUT_MS = Number(PAYMENTS_TEST_ENV.PROVIDER_TIMEOUT_MS);
const RETRIES = Number(PAYMENTS_TEST_ENV.PROVIDER_MAX_RETRIES);
/** stripe-node sleeps at least 0.5 s before each of its retries (not configurable). */
const SDK_BACKOFF_MS = 500;
const BUDGET_MS = (RETRIES + 1) * TIMEOUT_MS + RETRIES * SDK_BACKOFF_MS;

/** Stripe failing in the ways the real SDK meets, through the whole request path. */
describeEachDialect(`${StripeClient.name} resilience`, (target) => {
  let database: TestDatabase;
  let sut: PaymentsTestApp;

  const create = (headers: Record<string, string> = {}) =>
    sut.call('POST', '/payments', { amount: 1200, currency: 'eur' }, headers);
  const stripeCalls = () => sut.emulator.requests().filter((r) => r.path.startsWith('/v1/'));

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

  it('retries a Stripe 500 once with the same idempotency key, then succeeds', async () => {
    sut.emulator.queueFaults([{ kind: 'server_error' }]);

    const res = await create();

    expect(res.statusCode).toBe(201);
    const [failed, ok] = stripeCalls();
    expect([failed.status, ok.status]).toEqual(['server_error', 200]);
    expect(ok.headers['idempotency-key']).toBe(failed.headers['idempotency-key']);
    expect(stripeCalls()).toHaveLength(2);
    expect(sut.stripeState().paymentIntents).toHaveLength(1);
    expect(res.json().providerId).toBe(sut.stripeState().paymentIntents[0].id);
  });

  it('answers 503 provider_unavailable when Stripe keeps answering 500', async () => {
    sut.emulator.queueFaults(
      Array.from({ length: RETRIES + 1 }, () => ({ kind: 'server_error' as const })),
    );

    const res = await create();

    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'provider_unavailable' });
    expect(stripeCalls().map((r) => r.status)).toEqual(
      Array.from({ length: RETRIES + 1 }, () => 'server_error'),
    );
  });

  it('retries a 429 itself (the SDK does not) and succeeds', async () => {
    sut.emulator.queueFaults([{ kind: 'rate_limit' }]);

    const res = await create();

    expect(res.statusCode).toBe(201);
    const [limited, ok] = stripeCalls();
    expect([limited.status, ok.status]).toEqual(['rate_limit', 200]);
    expect(ok.headers['idempotency-key']).toBe(limited.headers['idempotency-key']);
    expect(sut.stripeState().paymentIntents).toHaveLength(1);
  });

  it('answers 503 provider_unavailable when Stripe keeps answering 429', async () => {
    sut.emulator.queueFaults(
      Array.from({ length: RETRIES + 1 }, () => ({ kind: 'rate_limit' as const })),
    );

    const res = await create();

    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'provider_unavailable' });
    expect(res.body).not.toMatch(/rate limit exceeded/i);
    expect(stripeCalls()).toHaveLength(RETRIES + 1);
  });

  it('answers 503 provider_unavailable within timeout × attempts when Stripe hangs', async () => {
    sut.emulator.setFaults({ hangRate: 1, pathPrefix: '/v1/' });
    const started = Date.now();

    const res = await create({ 'idempotency-key': 'hang-then-retry' });

    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      statusCode: 503,
      code: 'provider_unavailable',
      message: 'Stripe is unavailable; try again later',
      requestId: res.headers['x-request-id'],
    });
    expect(stripeCalls().map((r) => r.status)).toEqual(
      Array.from({ length: RETRIES + 1 }, () => 'hang'),
    );
    expect(elapsed).toBeGreaterThanOrEqual((RETRIES + 1) * TIMEOUT_MS);
    expect(elapsed).toBeLessThan(BUDGET_MS + 400);

    // A 503 is not kept: the client's retry runs again, with the same key at Stripe, and works.
    sut.emulator.setFaults({});
    const retry = await create({ 'idempotency-key': 'hang-then-retry' });
    expect(retry.statusCode).toBe(201);
    const keys = new Set(stripeCalls().map((r) => r.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect(sut.stripeState().paymentIntents).toHaveLength(1);
    // One row throughout: the first attempt's, reused by the retry.
    const rows = await sut.db
      .selectFrom('payments')
      .select(['id', 'idempotency_key'])
      .where('idempotency_key', '=', stripeIdempotencyKey('all:hang-then-retry', 'payment.create'))
      .execute();
    expect(rows.map((r) => r.id)).toEqual([retry.json().id]);
    expect(keys).toEqual(new Set([rows[0].idempotency_key]));
  });

  it('answers 503 provider_unavailable when the connection is reset', async () => {
    sut.emulator.setFaults({ resetRate: 1, pathPrefix: '/v1/' });
    const res = await create();
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe('provider_unavailable');
  });

  describe('with Stripe down (nothing listening)', () => {
    let down: PaymentsTestApp;
    let downDb: TestDatabase;

    beforeAll(async () => {
      downDb = await target.create();
      down = await startPaymentsTestApp(downDb, {
        STRIPE_API_BASE_URL: `http://127.0.0.1:${await freePort()}`,
      });
      await down.emulator.stop();
    });
    afterAll(async () => {
      await down?.close();
      await downDb?.drop();
    });

    it('answers 503 provider_unavailable within the budget', async () => {
      const started = Date.now();
      const res = await down.call('POST', '/payments', { amount: 1200, currency: 'eur' });
      expect(res.statusCode).toBe(503);
      expect(res.json().code).toBe('provider_unavailable');
      expect(Date.now() - started).toBeLessThan(BUDGET_MS + 400);
    });
  });
});
