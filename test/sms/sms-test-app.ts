import { randomBytes } from 'node:crypto';
import type { DestinationStream } from 'pino';
import twilio from 'twilio';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { JobEvent, JobQueue } from '../../src/jobs/job-queue';
import { JobQueueDriver } from '../../src/jobs/job-queue.driver';
import { JobQueueOptions, JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { JobRandom } from '../../src/jobs/retry-policy';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import {
  createTwilioEmulator,
  TWILIO_VALID_FROM,
  type TwilioEmulator,
} from '../../src/sandbox/twilio/twilio.emulator';
import { TwilioRetryWait } from '../../src/sms/twilio.client';
import { bearer, KEYS, startTestApp, TestApp } from '../helpers/app';
import type { TestDatabase } from '../helpers/databases';
import { freePort } from '../helpers/free-port';

export const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
export const AUTH_TOKEN = 'sms0'.repeat(8);
export const FROM = TWILIO_VALID_FROM;
export const TO = '+15551234567';
export const WEBHOOK_PATH = '/webhooks/twilio';

/** Quick retries, so failure paths finish within a test; a short timeout for the hang test. */
export const SMS_TEST_ENV = {
  TWILIO_ACCOUNT_SID: ACCOUNT_SID,
  TWILIO_AUTH_TOKEN: AUTH_TOKEN,
  TWILIO_FROM_NUMBER: FROM,
  TWILIO_MAX_RPS: '10000',
  JOB_MAX_ATTEMPTS: '4',
  JOB_BACKOFF_BASE_MS: '1',
  PROVIDER_MAX_RETRIES: '2',
  PROVIDER_TIMEOUT_MS: '300',
  LOG_LEVEL: process.env.SMS_TEST_LOG_LEVEL ?? 'silent',
  RATE_LIMIT_PER_MINUTE: '100000',
};

export interface TwilioSandbox {
  server: EmulatorServer;
  emulator: TwilioEmulator;
  url: string;
}

/** The Twilio emulator on a fixed port, so it can be stopped and started again at the same URL. */
export async function startTwilioSandbox(): Promise<TwilioSandbox> {
  const emulator = createTwilioEmulator({
    accountSid: ACCOUNT_SID,
    authToken: AUTH_TOKEN,
    // Long enough that the send job has stored the SID before the first callback.
    callbackDelayMs: 25,
  });
  const server = new EmulatorServer(emulator, {
    port: await freePort(),
    // Quick redeliveries, and a timeout no loaded CI machine reaches: a callback is never given up.
    delivery: { retryScheduleMs: [20, 100, 500], timeoutMs: 10_000 },
  });
  const url = await server.start();
  return { server, emulator, url };
}

export interface SmsTestApp extends TestApp {
  db: Db;
  jobs: JobQueue;
  driver: JobQueueDriver;
  publicUrl: string;
  /** Every in-call retry wait the client asked for (resolved at once: nothing sleeps). */
  waits: jest.SpyInstance<Promise<void>, [number]>;
  post(body: unknown, headers?: Record<string, string>): ReturnType<TestApp['app']['inject']>;
  get(url: string): ReturnType<TestApp['app']['inject']>;
  /** Posts a form to the Twilio webhook, signed for `signedUrl` (default: the public URL) unless a signature is given. */
  webhook(
    params: Record<string, string>,
    opts?: {
      signedUrl?: string;
      path?: string;
      signature?: string;
      headers?: Record<string, string>;
    },
  ): ReturnType<TestApp['app']['inject']>;
}

export interface SmsAppOptions {
  database: TestDatabase;
  twilioUrl: string;
  env?: Record<string, string>;
  /** Listen on this port (PUBLIC_BASE_URL points to it) so the emulator's callbacks reach the app. */
  port?: number;
  jobOptions?: Partial<JobQueueOptions>;
  bullmqPrefix?: string;
  logDestination?: DestinationStream;
}

export async function startSmsApp(opts: SmsAppOptions): Promise<SmsTestApp> {
  const port = opts.port ?? (await freePort());
  const publicUrl = `http://127.0.0.1:${port}`;
  const sut = await startTestApp({
    env: {
      DATABASE_URL: opts.database.url,
      TWILIO_API_BASE_URL: opts.twilioUrl,
      PUBLIC_BASE_URL: publicUrl,
      ...SMS_TEST_ENV,
      ...opts.env,
    },
    logDestination: opts.logDestination,
    imports: [
      // Our own BullMQ queues (when REDIS_URL is set), so suites running at once never share jobs.
      JobQueueOptionsModule.forRoot({
        bullmqPrefix: opts.bullmqPrefix ?? `sb-sms-${randomBytes(4).toString('hex')}`,
        shutdownTimeoutMs: 2000,
        ...opts.jobOptions,
      }),
    ],
  });
  await sut.app.listen({ host: '127.0.0.1', port });
  // No jitter: a retry is due at once, so whenIdle() runs it instead of returning before it.
  jest.spyOn(sut.app.get(JobRandom), 'next').mockReturnValue(0);
  const waits = jest.spyOn(sut.app.get(TwilioRetryWait), 'wait').mockResolvedValue(undefined);
  const inject = sut.app.inject.bind(sut.app);
  return {
    ...sut,
    url: publicUrl,
    publicUrl,
    db: sut.app.get<Db>(DATABASE),
    jobs: sut.app.get(JobQueue),
    driver: sut.app.get(JobQueueDriver),
    waits,
    post: (body, headers = {}) =>
      inject({
        method: 'POST',
        url: '/sms',
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...bearer(KEYS.sms), ...headers },
      }),
    get: (url) => inject({ method: 'GET', url, headers: bearer(KEYS.sms) }),
    webhook: (params, o = {}) => {
      const path = o.path ?? WEBHOOK_PATH;
      const signature =
        o.signature ??
        twilio.getExpectedTwilioSignature(AUTH_TOKEN, o.signedUrl ?? `${publicUrl}${path}`, params);
      return inject({
        method: 'POST',
        url: path,
        payload: new URLSearchParams(params).toString(),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signature,
          ...o.headers,
        },
      });
    },
  };
}

/**
 * Waits for the emulator's callbacks to be delivered and for our jobs to have
 * processed them. Twice: a callback can only be awaited once the message
 * exists at the emulator, and on a loaded machine the first idle check has
 * been seen to come back before a retried send had reached it.
 */
export async function settle(sut: SmsTestApp, sandbox: TwilioSandbox): Promise<void> {
  for (let round = 0; round < 2; round++) {
    await sut.jobs.whenIdle();
    await sandbox.server.whenDeliveriesIdle();
    await sut.jobs.whenIdle();
  }
}

/** Resolves at the next job event of `type` matching `kind` (the queue reports every attempt). */
export function nextJobEvent(
  sut: SmsTestApp,
  type: string,
  kind: JobEvent['kind'],
): Promise<JobEvent> {
  return new Promise((resolve) => {
    const off = sut.driver.subscribe((event) => {
      if (event.type === type && event.kind === kind) {
        off();
        resolve(event);
      }
    });
  });
}
