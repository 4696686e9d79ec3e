import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../src/common/clock';
import { InMemoryRateLimiter } from '../../src/common/rate-limit/in-memory-rate-limiter';
import { RateLimitModule } from '../../src/common/rate-limit/rate-limit.module';
import { RateLimiter } from '../../src/common/rate-limit/rate-limiter';
import { RedisRateLimiter } from '../../src/common/rate-limit/redis-rate-limiter';
import { startTestApp } from '../helpers/app';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases';

const redisUrl = process.env.TEST_REDIS_URL;
const rates = {
  stripe: { perSecond: 25, burst: 1 },
  twilio: { perSecond: 10, burst: 1 },
  sendgrid: { perSecond: 4, burst: 1 },
};

describe(RateLimitModule.name, () => {
  let database: TestDatabase;
  beforeAll(async () => (database = await createSqliteDatabase()));
  afterAll(() => database.drop());

  it('embeds the buckets in the process without REDIS_URL, with the configured rates', async () => {
    const app = await startTestApp({
      env: { DATABASE_URL: database.url, TWILIO_MAX_RPS: '2', REDIS_URL: undefined },
      imports: [RateLimitModule],
    });
    try {
      const limiter = app.app.get(RateLimiter);
      expect(limiter).toBeInstanceOf(InMemoryRateLimiter);
      const started = Date.now();
      await limiter.acquire('twilio');
      await limiter.acquire('stripe');
      expect(Date.now() - started).toBeLessThan(400);
    } finally {
      await app.close();
    }
  });

  (redisUrl ? it : it.skip)('shares the buckets through Redis with REDIS_URL', async () => {
    const app = await startTestApp({
      env: { DATABASE_URL: database.url, REDIS_URL: redisUrl },
      imports: [RateLimitModule],
    });
    try {
      expect(app.app.get(RateLimiter)).toBeInstanceOf(RedisRateLimiter);
    } finally {
      await app.close();
    }
  });
});

if (!redisUrl)
  process.stdout.write('Redis rate limiter suite skipped: TEST_REDIS_URL is not set\n');

(redisUrl ? describe : describe.skip)(RedisRateLimiter.name, () => {
  let redis: Redis;
  const prefix = `sbtest-rate-${randomBytes(5).toString('hex')}:`;
  let now = Date.parse('2030-01-01T00:00:00.000Z');
  const clock: Clock = { now: () => new Date(now) };

  beforeAll(() => {
    redis = new Redis(redisUrl ?? '');
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('spaces calls from several instances as one bucket, holding callers back instead of failing them', async () => {
    const waits: number[] = [];
    const sleeper = { sleep: (ms: number) => (waits.push(ms), Promise.resolve()) };
    const a = new RedisRateLimiter(redis, rates, clock, sleeper, prefix);
    const b = new RedisRateLimiter(redis, rates, clock, sleeper, prefix);

    for (const limiter of [a, b, a, b]) await limiter.acquire('sendgrid');
    expect(waits).toEqual([0, 250, 500, 750]);

    // Other providers have buckets of their own.
    await a.acquire('twilio');
    expect(waits[4]).toBe(0);
  });

  it('refills with time but never beyond the burst', async () => {
    const waits: number[] = [];
    const sleeper = { sleep: (ms: number) => (waits.push(ms), Promise.resolve()) };
    const sut = new RedisRateLimiter(redis, rates, clock, sleeper, prefix);
    now += 60_000;
    await sut.acquire('stripe');
    await sut.acquire('stripe');
    now += 40;
    await sut.acquire('stripe');
    expect(waits).toEqual([0, 40, 40]);
  });
});
