import { randomBytes } from 'node:crypto';
import { bearer, startTestApp, TestApp } from './helpers/app';
import { createSqliteDatabase, TestDatabase } from './helpers/databases';
import { ProbeModule } from './helpers/probe.module';

const redisUrl = process.env.TEST_REDIS_URL;
if (!redisUrl) process.stdout.write('Redis rate-limit suite skipped: TEST_REDIS_URL is not set\n');

const targets: { name: string; redis?: string }[] = [
  { name: 'embedded' },
  ...(redisUrl ? [{ name: 'redis', redis: redisUrl }] : []),
];

describe.each(targets)('Inbound rate limit [$name]', ({ redis }) => {
  // A fresh key name per run: Redis counters outlive the process.
  const name = `rl${randomBytes(4).toString('hex')}`;
  const secret = `${name}-secret-0000000000000000000`;
  let db: TestDatabase;
  let apps: TestApp[] = [];

  beforeAll(async () => {
    db = await createSqliteDatabase();
    const env = {
      DATABASE_URL: db.url,
      RATE_LIMIT_PER_MINUTE: '3',
      API_KEYS: `${name}:${secret}:admin`,
      REDIS_URL: redis,
    };
    apps = [await startTestApp({ env, imports: [ProbeModule] })];
    // With Redis, a second instance shares the counter.
    if (redis) apps.push(await startTestApp({ env, imports: [ProbeModule] }));
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  it('answers 429 rate_limited with Retry-After past the limit, per key, across instances', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const app = apps[i % apps.length].app;
      const res = await app.inject({ method: 'GET', url: '/probe/admin', headers: bearer(secret) });
      statuses.push(res.statusCode);
      if (i === 3) {
        expect(res.json()).toMatchObject({ statusCode: 429, code: 'rate_limited' });
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('does not limit health checks', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await apps[0].app.inject({ method: 'GET', url: '/health/live' });
      expect(res.statusCode).toBe(200);
    }
  });
});

describe('HTTPS enforcement', () => {
  let db: TestDatabase;
  let sut: TestApp;

  beforeAll(async () => {
    db = await createSqliteDatabase();
    sut = await startTestApp({
      env: { DATABASE_URL: db.url, ENFORCE_HTTPS: 'true', TRUST_PROXY: 'true' },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await db?.drop();
  });

  it('refuses webhooks over plain HTTP with 403 https_required, and lets HTTPS through', async () => {
    const plain = await sut.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'x-forwarded-proto': 'http' },
    });
    expect(plain.statusCode).toBe(403);
    expect(plain.json().code).toBe('https_required');
    const secure = await sut.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(secure.statusCode).not.toBe(403);
    expect(secure.headers['strict-transport-security']).toMatch(/max-age=/);
  });

  it.each(['/%77ebhooks/stripe', '/webhooks/%73endgrid', '/webhooks/twilio?x=1'])(
    'refuses %s over plain HTTP too: the route decides, not the spelling of the URL',
    async (url) => {
      const res = await sut.app.inject({
        method: 'POST',
        url,
        headers: { 'x-forwarded-proto': 'http', 'content-type': 'application/json' },
        payload: '[]',
      });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('https_required');
    },
  );
});
