import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import Stripe from 'stripe';
import { Clock } from '../../src/common/clock';
import { BackingServiceUnavailableError } from '../../src/common/errors/unavailable';
import { RedisRateLimiter } from '../../src/common/rate-limit/redis-rate-limiter';
import { Sleeper } from '../../src/common/rate-limit/rate-limiter';
import { SHARED_REDIS_OPTIONS } from '../../src/common/redis/redis.module';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { JobQueue } from '../../src/jobs/job-queue';
import { KEYS, startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { ProbeModule } from '../helpers/probe.module';
import { boundedFetch, CLIENT_TIMEOUT_MS, type JsonAnswer } from '../helpers/bounded-fetch';
import { TcpProxy } from '../helpers/tcp-proxy';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) process.stdout.write('Redis outage suites skipped: TEST_REDIS_URL is not set\n');
const describeWithRedis = redisUrl ? describe : describe.skip;

const STRIPE_WEBHOOK_SECRET = 'whsec_redisOutageTest000000000000000';

/**
 * Redis taken away from a running instance (a TCP relay in front of the
 * shared test server is cut, or stalled) and brought back: what needs Redis
 * answers 503 at once instead of hanging, what does not (stored webhooks)
 * goes on, and everything recovers without a restart.
 */
describeWithRedis('Redis outage', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let sut: TestApp;
  let base: string;

  beforeAll(async () => {
    proxy = await TcpProxy.inFrontOf(redisUrl ?? '', 6379);
    database = await createTestDatabase();
    sut = await startTestApp({
      env: {
        DATABASE_URL: database.url,
        REDIS_URL: proxy.rewrite(redisUrl ?? ''),
        STRIPE_API_KEY: 'sk_test_redisOutage000000000000000',
        STRIPE_WEBHOOK_SECRET,
        STRIPE_API_BASE_URL: 'http://127.0.0.1:9',
      },
      imports: [ProbeModule],
      listen: true,
    });
    base = sut.url ?? '';
  }, 30_000);
  afterAll(async () => {
    // Back up first, so the app's connections close cleanly.
    await proxy?.restore();
    proxy?.resume();
    await sut?.close();
    await proxy?.close();
    await database?.drop();
  }, 30_000);

  const get = async (path: string, key?: string): Promise<Omit<JsonAnswer, 'headers'>> => {
    const { status, body } = await boundedFetch(base, 'GET', path, { key });
    return { status, body };
  };

  /**
   * Bounded polling until readiness is 200 again and every Redis client of the
   * app (the shared one, BullMQ's, each worker's blocking one) has reconnected
   * through the relay: they come back on their own schedules.
   */
  async function recovered(connections: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ready = await get('/health/ready');
      if (ready.status === 200 && proxy.connections >= connections) return;
      if (Date.now() > deadline)
        throw new Error(
          `not recovered: ${proxy.connections}/${connections} connections, ${JSON.stringify(ready.body)}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  function deliverStripeEvent(id: string): Promise<Response> {
    const payload = JSON.stringify({
      id,
      object: 'event',
      created: Math.floor(Date.now() / 1000),
      type: 'customer.created',
      data: { object: { id: 'cus_1', object: 'customer' } },
    });
    return fetch(`${base}/webhooks/stripe`, {
      method: 'POST',
      body: payload,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': new Stripe('sk_test_x').webhooks.generateTestHeaderString({
          payload,
          secret: STRIPE_WEBHOOK_SECRET,
        }),
      },
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
  }

  const eventStatus = async (eventId: string): Promise<string | undefined> =>
    (
      await sut.app
        .get<Db>(DATABASE)
        .selectFrom('webhook_events')
        .select('status')
        .where('provider', '=', 'stripe')
        .where('event_id', '=', eventId)
        .executeTakeFirst()
    )?.status;

  it('answers 503 while Redis is down, keeps storing webhooks, and recovers when it is back', async () => {
    expect((await get('/health/ready')).status).toBe(200);
    expect((await get('/probe/admin', KEYS.admin)).status).toBe(200);
    const connections = proxy.connections;

    await proxy.cut();

    const ready = await get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      status: 'error',
      error: {
        redis: { status: 'down', message: expect.stringMatching(/^(unavailable|timed out)$/) },
      },
    });
    // Public: the driver's text (addresses) stays in the log.
    expect(JSON.stringify(ready.body)).not.toMatch(/ECONN|127\.0\.0\.1|closed/i);
    expect(ready.body.error).not.toHaveProperty('database');

    // Every authenticated route counts the request in Redis (the shared rate limit).
    const limited = await get('/probe/admin', KEYS.admin);
    expect(limited).toEqual({
      status: 503,
      body: {
        statusCode: 503,
        code: 'provider_unavailable',
        message: 'the service is temporarily unavailable; try again shortly',
        requestId: expect.any(String),
      },
    });

    // Webhooks need only the database: stored and acknowledged, processed once Redis is back.
    const eventId = `evt_during_outage_${randomBytes(4).toString('hex')}`;
    const hook = await deliverStripeEvent(eventId);
    expect(hook.status).toBe(200);
    expect(await eventStatus(eventId)).toBe('received');

    await proxy.restore();
    await recovered(connections);

    expect((await get('/probe/admin', KEYS.admin)).status).toBe(200);
    await sut.app.get(JobQueue).whenIdle();
    expect(await eventStatus(eventId)).toBe('processed');
  }, 60_000);

  it('answers 503 within the command timeout when Redis accepts connections but never replies', async () => {
    await recovered(0);
    const connections = proxy.connections;
    proxy.stall();
    try {
      const limited = await get('/probe/admin', KEYS.admin);
      expect(limited.status).toBe(503);
      expect(limited.body.code).toBe('provider_unavailable');
      expect((await get('/health/ready')).status).toBe(503);
    } finally {
      proxy.resume();
    }
    await recovered(connections);
    expect((await get('/probe/admin', KEYS.admin)).status).toBe(200);
  }, 60_000);
});

describeWithRedis(RedisRateLimiter.name, () => {
  let proxy: TcpProxy;
  let redis: Redis;

  beforeAll(async () => {
    proxy = await TcpProxy.inFrontOf(redisUrl ?? '', 6379);
    redis = new Redis(proxy.rewrite(redisUrl ?? ''), SHARED_REDIS_OPTIONS);
    redis.on('error', () => undefined);
    await redis.connect();
  });
  afterAll(async () => {
    redis?.disconnect();
    await proxy?.close();
  });

  it('fails an outbound reservation at once while Redis is down, and reserves again once it is back', async () => {
    const sut = new RedisRateLimiter(
      redis,
      {
        stripe: { perSecond: 1000, burst: 1 },
        twilio: { perSecond: 1000, burst: 1 },
        sendgrid: { perSecond: 1000, burst: 1 },
      },
      new Clock(),
      new Sleeper(),
      `sb-test-outbound-${randomBytes(4).toString('hex')}:`,
    );
    await expect(sut.acquire('twilio')).resolves.toBeUndefined();

    await proxy.cut();
    await expect(sut.acquire('twilio')).rejects.toBeInstanceOf(BackingServiceUnavailableError);

    await proxy.restore();
    // ioredis reconnects on its own schedule (at most a second apart): bounded polling.
    const deadline = Date.now() + 10_000;
    while (redis.status !== 'ready' && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(sut.acquire('twilio')).resolves.toBeUndefined();
  }, 30_000);
});

describeWithRedis('Shutting down during a Redis outage', () => {
  it('closes the app (BullMQ workers included) although Redis is unreachable', async () => {
    const proxy = await TcpProxy.inFrontOf(redisUrl ?? '', 6379);
    const database = await createTestDatabase();
    const timersBefore = activeTimers();
    try {
      const sut = await startTestApp({
        env: { DATABASE_URL: database.url, REDIS_URL: proxy.rewrite(redisUrl ?? '') },
        imports: [ProbeModule],
      });
      // A worker per job type is polling Redis; a stop must not wait for it to reconnect.
      expect(sut.app.get(JobQueue)).toBeDefined();
      await proxy.cut();
      // Until the app has noticed (readiness fails), then Redis comes back and the app stops
      // at once, while BullMQ's blocking connections are still reconnecting.
      const deadline = Date.now() + 10_000;
      while ((await sut.app.inject({ url: '/health/ready' })).statusCode !== 503) {
        if (Date.now() > deadline) throw new Error('readiness never reported Redis down');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await proxy.restore();
      // Bounded by the test's timeout: BullMQ's graceful close alone never resolved here.
      await sut.close();
      // Nothing of the app keeps the process alive: a worker whose close was left hanging
      // renewed its locks every 7.5 s forever. ioredis ends the sockets it closed within 2 s.
      const settle = Date.now() + 5_000;
      while (activeTimers() > timersBefore && Date.now() < settle)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(activeTimers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      await proxy.restore().catch(() => undefined);
      await proxy.close();
      await database.drop();
    }
  }, 30_000);
});

/** Timers that keep the process alive (the test's own timeout among them). */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}
