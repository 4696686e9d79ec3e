import { DATABASE } from '../../src/database/database.module';
import type { Db, WebhookEventsTable } from '../../src/database/database.types';
import { JobQueue } from '../../src/jobs/job-queue';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { JobsModule } from '../../src/jobs/jobs.module';
import { JobRandom } from '../../src/jobs/retry-policy';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';
import { startTestApp, TestApp } from '../helpers/app';
import type { TestDatabase } from '../helpers/databases';
import { randomBytes } from 'node:crypto';
import { signTestWebhook, TestProviderModule, TestWebhookEvent } from './test-provider.module';

/** A few quick attempts, so a failing handler is dead within one test. */
export const WEBHOOK_TEST_ENV = { JOB_MAX_ATTEMPTS: '3', JOB_BACKOFF_BASE_MS: '1' };

export interface WebhookTestApp extends TestApp {
  db: Db;
  jobs: JobQueue;
  /** Posts to the fake provider's route, signed unless a signature is given. */
  deliver(
    body: TestWebhookEvent | TestWebhookEvent[] | string,
    headers?: Record<string, string>,
  ): ReturnType<TestApp['app']['inject']>;
  inject(opts: Parameters<TestApp['app']['inject']>[0]): ReturnType<TestApp['app']['inject']>;
  rows(provider?: string): Promise<WebhookEventsTable[]>;
  row(provider: string, eventId: string): Promise<WebhookEventsTable | undefined>;
}

export async function startWebhookTestApp(
  database: TestDatabase,
  env: Record<string, string> = {},
): Promise<WebhookTestApp> {
  const sut = await startTestApp({
    env: { DATABASE_URL: database.url, ...WEBHOOK_TEST_ENV, ...env },
    imports: [
      JobsModule,
      // Our own BullMQ queues (when REDIS_URL is set), so suites running at once never share jobs.
      JobQueueOptionsModule.forRoot({
        bullmqPrefix: `sb-test-${randomBytes(4).toString('hex')}`,
        shutdownTimeoutMs: 2000,
      }),
      WebhooksModule,
      TestProviderModule,
    ],
  });
  // No jitter: a retry is due at once, so whenIdle() runs it instead of returning before it.
  jest.spyOn(sut.app.get(JobRandom), 'next').mockReturnValue(0);
  const db = sut.app.get<Db>(DATABASE);
  return {
    ...sut,
    db,
    jobs: sut.app.get(JobQueue),
    inject: (opts) => sut.app.inject(opts),
    deliver: (body, headers = {}) => {
      const payload = typeof body === 'string' ? body : JSON.stringify(body);
      return sut.app.inject({
        method: 'POST',
        url: '/webhooks/test',
        payload,
        headers: {
          'content-type': 'application/json',
          'x-test-signature': signTestWebhook(payload),
          ...headers,
        },
      });
    },
    rows: (provider) =>
      db
        .selectFrom('webhook_events')
        .selectAll()
        .$if(provider !== undefined, (q) => q.where('provider', '=', provider ?? ''))
        .orderBy('received_at')
        .orderBy('id')
        .execute(),
    row: (provider, eventId) =>
      db
        .selectFrom('webhook_events')
        .selectAll()
        .where('provider', '=', provider)
        .where('event_id', '=', eventId)
        .executeTakeFirst(),
  };
}
