import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { RateLimitModule } from '../../src/common/rate-limit/rate-limit.module';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { JobQueue } from '../../src/jobs/job-queue';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { JobsModule } from '../../src/jobs/jobs.module';
import { JobRandom } from '../../src/jobs/retry-policy';
import { PaymentsModule } from '../../src/payments/payments.module';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import { StripeEmulator, type StripeState } from '../../src/sandbox/stripe/stripe.emulator';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';
import { injectJson, startTestApp, TestApp } from '../helpers/app';
import type { TestDatabase } from '../helpers/databases';

export const STRIPE_SECRET_KEY = 'sk_test_switchboardPayments000000000';
export const STRIPE_WEBHOOK_SECRET = 'whsec_switchboardPaymentsTest00000000';

/** Small, so timeouts and retries take a fraction of a second. */
export const PAYMENTS_TEST_ENV = {
  PROVIDER_TIMEOUT_MS: '300',
  PROVIDER_MAX_RETRIES: '1',
  JOB_MAX_ATTEMPTS: '3',
  JOB_BACKOFF_BASE_MS: '1',
  STRIPE_MAX_RPS: '1000',
};

/** A port nothing listens on right now (the emulator takes it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

type Inject = TestApp['app']['inject'];
type InjectResponse = Awaited<ReturnType<Inject>>;

export interface PaymentsTestApp extends TestApp {
  db: Db;
  jobs: JobQueue;
  emulator: EmulatorServer;
  /** The real SDK pointed at the emulator, as a test's own Stripe account access (e.g. Dashboard actions). */
  stripe: Stripe;
  stripeState(): StripeState;
  /** A JSON request with the all-scopes key unless other headers say otherwise. */
  call(
    method: 'GET' | 'POST',
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<InjectResponse>;
  /** Posts a raw body to `/webhooks/stripe`, signed with `secret` at `timestamp` unless a signature is given. */
  deliver(
    payload: string,
    opts?: { secret?: string; timestamp?: number; signature?: string | null },
  ): Promise<InjectResponse>;
  /** Waits until the emulator has delivered every webhook and the job queue has processed them. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The application with the payments module, listening, and a Stripe emulator
 * started beside it whose webhooks go to the application's `/webhooks/stripe`.
 */
export async function startPaymentsTestApp(
  database: TestDatabase,
  env: Record<string, string> = {},
): Promise<PaymentsTestApp> {
  // The emulator's port is chosen before it listens (the app needs its URL, it needs the app's):
  // another process may take it meanwhile, so try again on a fresh one.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(database, env, await freePort());
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

async function startOnce(
  database: TestDatabase,
  env: Record<string, string>,
  port: number,
): Promise<PaymentsTestApp> {
  const sut = await startTestApp({
    env: {
      DATABASE_URL: database.url,
      STRIPE_API_KEY: STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET,
      STRIPE_API_BASE_URL: `http://127.0.0.1:${port}`,
      ...PAYMENTS_TEST_ENV,
      ...env,
    },
    imports: [
      JobsModule,
      JobQueueOptionsModule.forRoot({
        bullmqPrefix: `sb-test-${randomBytes(4).toString('hex')}`,
        shutdownTimeoutMs: 2000,
      }),
      WebhooksModule,
      RateLimitModule,
      PaymentsModule,
    ],
    listen: true,
  });
  // No jitter: a failed webhook job is due again at once, so whenIdle() runs it.
  jest.spyOn(sut.app.get(JobRandom), 'next').mockReturnValue(0);
  const emulator = new EmulatorServer(
    new StripeEmulator({
      secretKey: STRIPE_SECRET_KEY,
      webhookUrl: `${sut.url}/webhooks/stripe`,
      webhookSecret: STRIPE_WEBHOOK_SECRET,
    }),
    { port, delivery: { retryScheduleMs: [20, 100], timeoutMs: 5000 } },
  );
  try {
    await emulator.start();
  } catch (err) {
    await sut.close();
    throw err;
  }
  const jobs = sut.app.get(JobQueue);
  const stripe = new Stripe(STRIPE_SECRET_KEY, {
    host: '127.0.0.1',
    port,
    protocol: 'http',
    maxNetworkRetries: 0,
    telemetry: false,
  });

  return {
    ...sut,
    db: sut.app.get<Db>(DATABASE),
    jobs,
    emulator,
    stripe,
    stripeState: () => emulator.state() as StripeState,
    call: (method, url, body, headers = {}) => injectJson(sut.app, method, url, body, headers),
    deliver: (payload, opts = {}) => {
      const signature =
        opts.signature !== undefined
          ? opts.signature
          : stripe.webhooks.generateTestHeaderString({
              payload,
              secret: opts.secret ?? STRIPE_WEBHOOK_SECRET,
              timestamp: opts.timestamp ?? Math.floor(Date.now() / 1000),
            });
      return sut.app.inject({
        method: 'POST',
        url: '/webhooks/stripe',
        payload,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...(signature === null ? {} : { 'stripe-signature': signature }),
        },
      });
    },
    settle: async () => {
      await emulator.whenDeliveriesIdle();
      await jobs.whenIdle();
    },
    stop: async () => {
      await emulator.stop();
      await sut.close();
    },
  };
}

/** A Stripe event as the emulator would send it, for hand-made deliveries. */
export function stripeEvent(
  type: string,
  object: unknown,
  opts: { id?: string; created?: number; idempotencyKey?: string | null } = {},
): string {
  return JSON.stringify({
    id: opts.id ?? `evt_test${randomBytes(8).toString('hex')}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: opts.created ?? Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: opts.idempotencyKey ?? null },
    type,
  });
}
