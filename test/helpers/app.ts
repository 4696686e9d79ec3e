import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { createApp } from '../../src/app.factory';
import { AppConfig, loadAppConfig } from '../../src/config/app.config';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { scaleoutRedisUrl } from './test-mode';

export const KEYS = {
  all: 'all-scopes-secret-000000000000',
  payments: 'payments-only-secret-00000000',
  sms: 'sms-only-secret-0000000000000',
  emails: 'emails-only-secret-000000000',
  admin: 'admin-only-secret-00000000000',
};

export const API_KEYS = [
  `all:${KEYS.all}:payments+sms+emails+admin`,
  `payments:${KEYS.payments}:payments`,
  `sms:${KEYS.sms}:sms`,
  `emails:${KEYS.emails}:emails`,
  `admin:${KEYS.admin}:admin`,
].join(',');

export const bearer = (secret: string): Record<string, string> => ({
  authorization: `Bearer ${secret}`,
});

/** An in-process request with the all-scopes key and, when given, a JSON body. */
export function injectJson(
  app: NestFastifyApplication,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): ReturnType<NestFastifyApplication['inject']> {
  return app.inject({
    method,
    url,
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...bearer(KEYS.all),
      ...headers,
    },
  });
}

/**
 * The configuration of a test app: `env` over quiet test defaults. In
 * scale-out mode `REDIS_URL` defaults to `TEST_REDIS_URL` (a test keeps the
 * embedded drivers by setting `REDIS_URL: undefined`), with an inbound limit
 * no suite reaches unless it sets its own: the counters of a key name are
 * shared by every suite on that Redis.
 */
export function testConfig(env: Record<string, string | undefined>): AppConfig {
  const redisUrl = scaleoutRedisUrl();
  return loadAppConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    API_KEYS,
    SANDBOX: 'false',
    ...(redisUrl && !('REDIS_URL' in env)
      ? { REDIS_URL: redisUrl, RATE_LIMIT_PER_MINUTE: '1000000' }
      : {}),
    ...env,
  });
}

/**
 * Removes what the app's queues left in Redis (BullMQ keeps ids and metadata
 * after the jobs). A Redis a test has taken away fails it fast (no
 * reconnecting, a command timeout) instead of holding the suite up.
 */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // the failed command reports it
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

function choosesJobQueueOptions(imports: readonly (Type | DynamicModule)[]): boolean {
  return imports.some(
    (m) => m === JobQueueOptionsModule || ('module' in m && m.module === JobQueueOptionsModule),
  );
}

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  /** The listening base URL (only when `listen` was asked for). */
  url?: string;
  close(): Promise<void>;
}

/** Builds the real application for a test, optionally listening on a free port. */
export async function startTestApp(opts: {
  env?: Record<string, string | undefined>;
  config?: AppConfig;
  imports?: (Type | DynamicModule)[];
  listen?: boolean;
  logDestination?: DestinationStream;
}): Promise<TestApp> {
  const config = opts.config ?? testConfig(opts.env ?? {});
  const imports = [...(opts.imports ?? [])];
  // BullMQ queues of their own, unless the test chose: apps of other suites on the
  // same Redis would otherwise take this one's jobs (and find no row for them).
  const ownPrefix =
    config.redis.url && !choosesJobQueueOptions(imports)
      ? `sb-app-${randomBytes(4).toString('hex')}`
      : undefined;
  if (ownPrefix) imports.push(JobQueueOptionsModule.forRoot({ bullmqPrefix: ownPrefix }));
  const app = await createApp(config, { imports, logDestination: opts.logDestination });
  let url: string | undefined;
  if (opts.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = await app.getUrl();
    url = url.replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  }
  const close = async (): Promise<void> => {
    await app.close();
    // Tidying only: keys left under a prefix no one else uses harm no other suite.
    if (ownPrefix && config.redis.url)
      await deleteKeys(config.redis.url, `${ownPrefix}:`).catch(() => undefined);
  };
  return { app, config, url, close };
}
