import Stripe from 'stripe';

import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import { StripeEmulator } from '../../src/sandbox/stripe/stripe.emulator';
import type { StripeState } from '../../src/sandbox/stripe/stripe.emulator';
import { stripeClient, stripeSchemas } from './stripe-support';

const SECRET_KEY = 'sk_test_faults000000000000000000';

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

/** Faults injected by the server in front of the Stripe emulator, as the real SDK experiences them. */
describe(`${EmulatorServer.name} faults (Stripe SDK)`, () => {
  const schemas = stripeSchemas();
  let draws: number[] = [];
  let server: EmulatorServer;
  let stripe: Stripe;

  const create = (client = stripe) =>
    client.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
  const statuses = () => server.requests().map((r) => r.status);
  const intents = () => (server.state() as StripeState).paymentIntents;

  beforeAll(async () => {
    // A scripted `random`, so that rate-based faults are deterministic.
    server = new EmulatorServer(new StripeEmulator({ secretKey: SECRET_KEY }), {
      random: () => draws.shift() ?? 0.99,
    });
    await server.start();
    stripe = stripeClient(server, SECRET_KEY);
  });

  afterEach(() => {
    server.reset();
    draws = [];
  });

  afterAll(async () => {
    await server.stop();
  });

  it('rate_limit: 429 in Stripe error JSON with its headers → StripeRateLimitError, not retried', async () => {
    server.queueFaults([{ kind: 'rate_limit' }]);

    const err = await caught(create(stripeClient(server, SECRET_KEY, { maxNetworkRetries: 2 })));

    expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(err.statusCode).toBe(429);
    expect(err.code).toBe('rate_limit');
    expect(err.headers?.['request-id']).toMatch(/^req_/);
    expect(err.headers?.['content-type']).toBe('application/json');
    const {
      headers: _h,
      statusCode: _s,
      requestId: _r,
      ...error
    } = err.raw as Record<string, unknown>;
    schemas.error.assert({ error }, '429 body');
    expect(statuses()).toEqual(['rate_limit']);
    expect(intents()).toHaveLength(0);
  });

  it('server_error: 500 → StripeAPIError; the SDK retry with the same key then succeeds once', async () => {
    server.queueFaults([{ kind: 'server_error' }]);
    const err = await caught(create());
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);
    expect(err.type).toBe('StripeAPIError');

    server.reset();
    server.queueFaults([{ kind: 'server_error' }]);
    const retrying = stripeClient(server, SECRET_KEY, { maxNetworkRetries: 1 });
    const sut = await create(retrying);

    expect(sut.status).toBe('requires_payment_method');
    const [first, second] = server.requests();
    expect([first.status, second.status]).toEqual(['server_error', 200]);
    expect(second.headers['idempotency-key']).toBe(first.headers['idempotency-key']);
    expect(intents()).toHaveLength(1);
  });

  it('unavailable: 503 → StripeAPIError', async () => {
    server.queueFaults([{ kind: 'unavailable' }]);

    const err = await caught(create());

    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(503);
    expect(statuses()).toEqual(['unavailable']);
  });

  it('latency: the delayed request is answered after a later one', async () => {
    // The prefix keeps the events call out of the fault plan whichever request arrives first.
    server.setFaults({ pathPrefix: '/v1/payment_intents', queue: [{ kind: 'latency', ms: 300 }] });
    const order: string[] = [];

    const slow = create().then(() => order.push('slow'));
    const fast = stripe.events.list().then(() => order.push('fast'));
    await Promise.all([slow, fast]);

    expect(order).toEqual(['fast', 'slow']);
    expect(server.requests().map((r) => [r.path, r.status, r.fault])).toEqual([
      ['/v1/events', 200, undefined],
      ['/v1/payment_intents', 200, 'latency'],
    ]);
  });

  it('hang: never answered, so the SDK times out (StripeConnectionError)', async () => {
    server.queueFaults([{ kind: 'hang' }]);

    const err = await caught(create(stripeClient(server, SECRET_KEY, { timeout: 100 })));

    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(err.message).toMatch(/timeout/i);
    expect(statuses()).toEqual(['hang']);
  });

  it('reset: the connection is dropped; the SDK retries a closed connection once, then gives up', async () => {
    server.queueFaults([{ kind: 'reset' }, { kind: 'reset' }]);
    const err = await caught(create());
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(statuses()).toEqual(['reset', 'reset']);

    server.reset();
    server.queueFaults([{ kind: 'reset' }]);
    const sut = await create();
    expect(sut.object).toBe('payment_intent');
    expect(statuses()).toEqual(['reset', 200]);
  });

  it('applies an exact queue one fault per request, in order, before the rates', async () => {
    server.setFaults({
      rateLimitRate: 1,
      queue: [{ kind: 'server_error' }, { kind: 'unavailable' }],
    });

    for (let i = 0; i < 3; i++) await caught(stripe.events.list());

    expect(statuses()).toEqual(['server_error', 'unavailable', 'rate_limit']);
  });

  it('draws rate-based faults from the injected random, stacked in order', async () => {
    server.setFaults({ rateLimitRate: 0.2, serverErrorRate: 0.2, unavailableRate: 0.2 });
    draws = [0.1, 0.3, 0.5, 0.7];

    for (let i = 0; i < 4; i++) await stripe.events.list().catch(() => undefined);

    expect(statuses()).toEqual(['rate_limit', 'server_error', 'unavailable', 200]);
  });

  it('limits faults to a path prefix, and never applies them to the control API', async () => {
    server.setFaults({ serverErrorRate: 1, pathPrefix: '/v1/refunds' });

    await create();
    const control = await fetch(`${server.url}/__sandbox/state`);
    const err = await caught(stripe.refunds.create({ payment_intent: intents()[0].id }));

    expect(control.status).toBe(200);
    expect(err.statusCode).toBe(500);
    expect(statuses()).toEqual([200, 'server_error']);
  });

  it('sets faults through the control API', async () => {
    const res = await fetch(`${server.url}/__sandbox/faults/queue`, {
      method: 'POST',
      body: JSON.stringify([{ kind: 'unavailable' }]),
    });
    expect(res.status).toBe(200);

    const err = await caught(create());
    expect(err.statusCode).toBe(503);

    const replaced = await fetch(`${server.url}/__sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ rateLimitRate: 1 }),
    });
    expect(await replaced.json()).toEqual({ rateLimitRate: 1, queue: [] });
    expect((await caught(create())).statusCode).toBe(429);
  });
});
