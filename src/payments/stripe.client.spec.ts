import { Logger } from '@nestjs/common';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Clock } from '../common/clock';
import { loadAppConfig } from '../config/app.config';
import { StripeProviderError } from './provider-error';
import { retryAfterSeconds, STRIPE_API_VERSION, StripeClient } from './stripe.client';

interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

/** A tiny HTTP server answering with scripted responses, in order, and recording requests. */
class ScriptedServer {
  readonly requests: http.IncomingHttpHeaders[] = [];
  private script: Scripted[] = [];
  private readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.requests.push(req.headers);
      const next = this.script.shift() ?? { status: 500, body: { error: { type: 'api_error' } } };
      res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers });
      res.end(JSON.stringify(next.body));
    });
  });

  answer(...responses: Scripted[]): void {
    this.script = responses;
    this.requests.length = 0;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const intent = {
  id: 'pi_1',
  object: 'payment_intent',
  status: 'requires_payment_method',
  amount: 1000,
  currency: 'usd',
  client_secret: 'pi_1_secret_x',
  last_payment_error: null,
};
const rateLimited = (headers: Record<string, string> = {}): Scripted => ({
  status: 429,
  headers,
  body: {
    error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests' },
  },
});

async function failure(promise: Promise<unknown>): Promise<StripeProviderError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof StripeProviderError) return err;
    throw err;
  }
  throw new Error('expected a StripeProviderError');
}

describe(StripeClient.name, () => {
  const server = new ScriptedServer();
  let sut: StripeClient;

  beforeAll(async () => {
    // The client logs each Stripe failure; the assertions here are about what it throws.
    Logger.overrideLogger(false);
    const url = await server.start();
    const config = loadAppConfig({
      NODE_ENV: 'test',
      STRIPE_API_KEY: 'sk_test_unit000000000000000000',
      STRIPE_WEBHOOK_SECRET: 'whsec_unit000000000000000000',
      STRIPE_API_BASE_URL: url,
      PROVIDER_TIMEOUT_MS: '2000',
      PROVIDER_MAX_RETRIES: '1',
    });
    sut = new StripeClient(config, new Clock());
  });
  afterAll(() => server.stop());

  it('talks to the configured base URL with the pinned API version, our key and no telemetry', async () => {
    server.answer({
      status: 200,
      headers: { date: 'Tue, 03 Jun 2031 10:00:00 GMT' },
      body: intent,
    });

    const result = await sut.createPaymentIntent({ amount: 1000, currency: 'usd' }, 'key-1');

    expect(result).toEqual({
      value: expect.objectContaining({ id: 'pi_1', clientSecret: 'pi_1_secret_x' }),
      asOf: Date.parse('2031-06-03T10:00:00Z') / 1000,
    });
    const [headers] = server.requests;
    expect(headers['stripe-version']).toBe(STRIPE_API_VERSION);
    expect(headers['idempotency-key']).toBe('key-1');
    expect(headers).not.toHaveProperty('x-stripe-client-telemetry');
  });

  it('retries a 429 after its Retry-After, with the same idempotency key', async () => {
    server.answer(rateLimited({ 'retry-after': '1' }), { status: 200, body: intent });
    const started = Date.now();

    const result = await sut.createPaymentIntent({ amount: 1000, currency: 'usd' }, 'key-2');

    expect(result.value.id).toBe('pi_1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(server.requests.map((h) => h['idempotency-key'])).toEqual(['key-2', 'key-2']);
  });

  it('does not wait for a long Retry-After: unavailable, passing the delay on', async () => {
    server.answer(rateLimited({ 'retry-after': '120' }));
    const err = await failure(sut.retrievePaymentIntent('pi_1'));
    expect(err).toMatchObject({ kind: 'unavailable', info: { retryAfterSeconds: 120 } });
    expect(server.requests).toHaveLength(1);
  });

  it('gives up on 429 after PROVIDER_MAX_RETRIES retries', async () => {
    server.answer(rateLimited(), rateLimited(), { status: 200, body: intent });
    const err = await failure(sut.retrievePaymentIntent('pi_1'));
    expect(err.kind).toBe('unavailable');
    expect(server.requests).toHaveLength(2);
  });

  it('maps a card error to declined, with the PaymentIntent Stripe sent', async () => {
    server.answer({
      status: 402,
      body: {
        error: {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'generic_decline',
          message: 'Your card was declined.',
          payment_intent: intent,
        },
      },
    });
    const err = await failure(sut.createPaymentIntent({ amount: 1000, currency: 'usd' }, 'key-3'));
    expect(err).toMatchObject({
      kind: 'declined',
      info: { code: 'card_declined', declineCode: 'generic_decline', intent: { id: 'pi_1' } },
    });
  });

  it('maps an invalid request to rejected, and bad credentials to unavailable', async () => {
    server.answer({
      status: 400,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'customer',
          message: "No such customer: 'cus_x'",
        },
      },
    });
    const rejected = await failure(
      sut.createPaymentIntent({ amount: 1000, currency: 'usd' }, 'k4'),
    );
    expect(rejected).toMatchObject({
      kind: 'rejected',
      info: { code: 'resource_missing', param: 'customer' },
    });

    server.answer({
      status: 401,
      body: { error: { type: 'invalid_request_error', message: 'Invalid API Key' } },
    });
    expect((await failure(sut.retrievePaymentIntent('pi_1'))).kind).toBe('unavailable');
  });

  it('is disabled without Stripe credentials', () => {
    const disabled = new StripeClient(loadAppConfig({ NODE_ENV: 'test' }), new Clock());
    expect(disabled.enabled).toBe(false);
    expect(sut.enabled).toBe(true);
  });
});

describe(retryAfterSeconds.name, () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2031-06-03T10:00:00Z');
    expect(retryAfterSeconds({ 'retry-after': '7' }, now)).toBe(7);
    expect(retryAfterSeconds({ 'retry-after': 'Tue, 03 Jun 2031 10:00:30 GMT' }, now)).toBe(30);
    expect(retryAfterSeconds({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterSeconds({}, now)).toBeUndefined();
  });
});
