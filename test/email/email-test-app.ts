import { __resetOutOfContextForTests } from 'nestjs-pino/PinoLogger';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Clock } from '../../src/common/clock';
import { RateLimitModule } from '../../src/common/rate-limit/rate-limit.module';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import type { EmailDto } from '../../src/email/dto/email.dto';
import { EmailModule } from '../../src/email/email.module';
import { SendgridClientOptionsModule } from '../../src/email/sendgrid-client.options';
import { JobQueue, type JobView } from '../../src/jobs/job-queue';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { JobsModule } from '../../src/jobs/jobs.module';
import { JobRandom } from '../../src/jobs/retry-policy';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import {
  createSendgridEmulator,
  type SendgridEmulator,
  type SendgridEvent,
} from '../../src/sandbox/sendgrid/sendgrid.emulator';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';
import { bearer, KEYS, startTestApp, type TestApp } from '../helpers/app';
import { describeEachDialect, type DialectTarget, type TestDatabase } from '../helpers/databases';
import { queueTargets } from '../helpers/test-mode';

/** How long the test app's send job waits after a request SendGrid did not answer. */
export const UNKNOWN_OUTCOME_RETRY_MS = 5000;

export const SENDGRID_API_KEY = 'SG.email-e2e-key.0123456789abcdef';
export const FROM_EMAIL = 'noreply@switchboard.test';
export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/** A fresh ECDSA P-256 key pair, made here with node:crypto. */
export function newEventWebhookKeyPair(): { privateKey: KeyObject; publicKeyBase64: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

/** Signs like SendGrid: ECDSA P-256 / SHA-256 over `timestamp + body`, DER, base64. */
export function signEventBatch(body: string, timestamp: number, privateKey: KeyObject): string {
  return sign('sha256', Buffer.from(`${timestamp}${body}`, 'utf8'), privateKey).toString('base64');
}

/** An event batch as SendGrid serialises it (the CRLF is part of what is signed). */
export function batchBody(events: readonly unknown[]): string {
  return `${JSON.stringify(events)}\r\n`;
}

export interface EmailTestApp extends TestApp {
  url: string;
  db: Db;
  jobs: JobQueue;
  emulator: SendgridEmulator;
  server: EmulatorServer;
  /** The private key behind SENDGRID_WEBHOOK_PUBLIC_KEY. */
  privateKey: KeyObject;
  webhookUrl: string;
  /** Our clock in unix seconds. */
  nowSeconds(): number;
  /** Moves our clock forward (never back: the rate limiter's schedule must not end up in the future). */
  advanceClock(ms: number): void;
  /** Freezes our clock at its current reading until {@link unfreezeClock}. */
  freezeClock(): Date;
  unfreezeClock(): void;
  post(body: unknown, headers?: Record<string, string>): ReturnType<TestApp['app']['inject']>;
  get(url: string, key?: string): ReturnType<TestApp['app']['inject']>;
  email(id: string): Promise<EmailDto>;
  /** Until the send jobs ran, the emulator delivered every event and the inbox processed them. */
  settle(): Promise<void>;
  /** Posts a batch to /webhooks/sendgrid, signed with our key at our clock's time unless overridden. */
  deliver(
    events: readonly object[] | string,
    opts?: { timestamp?: number; key?: KeyObject; headers?: Record<string, string | undefined> },
  ): ReturnType<TestApp['app']['inject']>;
  jobsOf(type: string): Promise<JobView[]>;
  webhookRowCount(): Promise<number>;
  /** Events the emulator emitted for an X-Message-Id. */
  emittedFor(messageId: string): SendgridEvent[];
}

export interface EmailTestAppOptions {
  env?: Record<string, string>;
  /** The emulator posts its events to the app (default) or keeps them (tests then deliver by hand). */
  webhooks?: boolean;
  logDestination?: { write(line: string): void };
}

export async function startEmailTestApp(
  database: TestDatabase,
  opts: EmailTestAppOptions = {},
): Promise<EmailTestApp> {
  const { privateKey } = newEventWebhookKeyPair();
  const emulator = createSendgridEmulator({
    apiKey: SENDGRID_API_KEY,
    privateKey,
    eventDelayMs: 2,
  });
  // One clock for the app and the emulator (its event and rate-limit times), moved by the test.
  let offsetMs = 0;
  let frozen: Date | undefined;
  const clockNow = (): Date => frozen ?? new Date(Date.now() + offsetMs);
  const server = new EmulatorServer(emulator, {
    now: () => clockNow(),
    delivery: { retryScheduleMs: [5, 20, 50], timeoutMs: 5000 },
  });
  const base = await server.start();
  // nestjs-pino keeps the logger of lines written outside a request (jobs) in a process-wide
  // variable set by the first app; a later app in the same test file would log into the first's.
  __resetOutOfContextForTests();
  let sut: TestApp;
  try {
    sut = await startTestApp({
      env: {
        DATABASE_URL: database.url,
        SENDGRID_API_KEY,
        SENDGRID_FROM_EMAIL: FROM_EMAIL,
        SENDGRID_WEBHOOK_PUBLIC_KEY: emulator.publicKeyBase64(),
        SENDGRID_API_BASE_URL: base,
        SENDGRID_MAX_RPS: '1000',
        PROVIDER_TIMEOUT_MS: '1000',
        PROVIDER_MAX_RETRIES: '2',
        JOB_MAX_ATTEMPTS: '3',
        JOB_BACKOFF_BASE_MS: '1',
        ...opts.env,
      },
      imports: [
        JobsModule,
        // Our own BullMQ queues (REDIS_URL set), so suites running at once never share jobs.
        JobQueueOptionsModule.forRoot({
          shutdownTimeoutMs: 2000,
          bullmqPrefix: `sb-email-${randomBytes(4).toString('hex')}`,
        }),
        WebhooksModule,
        RateLimitModule,
        EmailModule,
        // No pauses between quick retries, and every wait SendGrid names goes back to the job queue.
        // A short wait after an unanswered request, so a test moving the clock past it stays
        // within the webhook tolerance of the emulator's own clock.
        SendgridClientOptionsModule.forRoot({
          retryBaseMs: 1,
          maxInCallWaitMs: 0,
          unknownOutcomeRetryMs: UNKNOWN_OUTCOME_RETRY_MS,
        }),
      ],
      listen: true,
      logDestination: opts.logDestination,
    });
  } catch (err) {
    await server.stop();
    throw err;
  }
  const url = sut.url ?? '';
  const webhookUrl = `${url}/webhooks/sendgrid`;
  if (opts.webhooks !== false) emulator.setWebhookUrl(webhookUrl);

  // No jitter: a job retry without a named time is due at once, so whenIdle() runs it.
  jest.spyOn(sut.app.get(JobRandom), 'next').mockReturnValue(0);
  jest.spyOn(sut.app.get(Clock), 'now').mockImplementation(() => new Date(clockNow()));

  const db = sut.app.get<Db>(DATABASE);
  const jobs = sut.app.get(JobQueue);
  const inject = (o: Parameters<TestApp['app']['inject']>[0]) => sut.app.inject(o);

  const app: EmailTestApp = {
    ...sut,
    url,
    db,
    jobs,
    emulator,
    server,
    privateKey,
    webhookUrl,
    nowSeconds: () => Math.floor(clockNow().getTime() / 1000),
    advanceClock: (ms) => {
      if (ms < 0) throw new Error('the test clock only moves forward');
      offsetMs += ms;
    },
    freezeClock: () => (frozen = clockNow()),
    unfreezeClock: () => {
      // Resume from wall time + offset, which is never earlier than the frozen reading.
      frozen = undefined;
    },
    post: (body, headers = {}) =>
      inject({
        method: 'POST',
        url: '/emails',
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...bearer(KEYS.emails), ...headers },
      }),
    get: (path, key = KEYS.emails) => inject({ method: 'GET', url: path, headers: bearer(key) }),
    email: async (id) => {
      const res = await inject({
        method: 'GET',
        url: `/emails/${id}`,
        headers: bearer(KEYS.emails),
      });
      if (res.statusCode !== 200)
        throw new Error(`GET /emails/${id}: ${res.statusCode} ${res.body}`);
      return res.json<EmailDto>();
    },
    settle: async () => {
      await jobs.whenIdle();
      await server.whenDeliveriesIdle();
      await jobs.whenIdle();
    },
    deliver: (events, o = {}) => {
      const body = typeof events === 'string' ? events : batchBody(events);
      const timestamp = o.timestamp ?? Math.floor(clockNow().getTime() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signEventBatch(body, timestamp, o.key ?? privateKey),
        [TIMESTAMP_HEADER]: String(timestamp),
      };
      for (const [name, value] of Object.entries(o.headers ?? {})) {
        if (value === undefined) delete headers[name];
        else headers[name] = value;
      }
      return inject({ method: 'POST', url: '/webhooks/sendgrid', payload: body, headers });
    },
    jobsOf: async (type) => {
      const rows = await db.selectFrom('jobs').select('id').where('type', '=', type).execute();
      const views = await Promise.all(rows.map((r) => jobs.get(r.id)));
      return views.filter((v): v is JobView => v !== undefined);
    },
    webhookRowCount: async () => {
      const row = await db
        .selectFrom('webhook_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    emittedFor: (messageId) =>
      emulator.state().events.filter((e) => e.sg_message_id.split('.')[0] === messageId),
    close: async () => {
      await sut.close();
      await server.stop();
    },
  };
  return app;
}

/** Runs `fn` once per database dialect and job driver; `env` selects the driver. */
export function describeEachTarget(
  name: string,
  fn: (target: DialectTarget, env: Record<string, string>) => void,
): void {
  describeEachDialect(name, (target) => {
    for (const { driver, env } of queueTargets()) describe(`[${driver}]`, () => fn(target, env));
  });
}

/** An sg_event_id no other test uses. */
export const newSgEventId = (): string => randomBytes(16).toString('base64');
