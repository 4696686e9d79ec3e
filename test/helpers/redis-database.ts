import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';

/** A Redis logical database that one test run has to itself; `release()` empties it. */
export interface TestRedisDatabase {
  /** The base URL with the database index as its path, e.g. `redis://127.0.0.1:6379/7`. */
  url: string;
  index: number;
  release(): Promise<void>;
}

const CLAIM_KEY = 'switchboard-test:claimed-by';
/** Long enough for any run; a crashed run's claim lapses by itself. */
const CLAIM_TTL_SECONDS = 30 * 60;

function withIndex(baseUrl: string, index: number): string {
  const url = new URL(baseUrl);
  url.pathname = `/${index}`;
  return url.toString();
}

/**
 * Claims an empty logical database (1–15) on the server `baseUrl` points to.
 * Processes started with it as `REDIS_URL` keep every key there — BullMQ
 * queues under the default prefix, the inbound and outbound rate-limit
 * counters — so nothing is shared with another suite or run on the same
 * server, and `release()` may empty the whole database: all of it is ours.
 */
export async function claimRedisDatabase(baseUrl: string): Promise<TestRedisDatabase> {
  const token = randomBytes(8).toString('hex');
  for (let index = 1; index < 16; index++) {
    const redis = new Redis(withIndex(baseUrl, index), { lazyConnect: true });
    try {
      await redis.connect();
      const claimed = await redis.set(CLAIM_KEY, token, 'EX', CLAIM_TTL_SECONDS, 'NX');
      if (claimed !== 'OK') continue;
      // Our claim must be the only key: anything else belongs to someone.
      if ((await redis.dbsize()) !== 1) {
        await redis.del(CLAIM_KEY);
        continue;
      }
      return {
        url: withIndex(baseUrl, index),
        index,
        release: () => releaseDatabase(baseUrl, index, token),
      };
    } finally {
      redis.disconnect();
    }
  }
  throw new Error(`no empty Redis database (1-15) on ${new URL(baseUrl).host} to run in`);
}

async function releaseDatabase(baseUrl: string, index: number, token: string): Promise<void> {
  const redis = new Redis(withIndex(baseUrl, index));
  try {
    if ((await redis.get(CLAIM_KEY)) === token) await redis.flushdb();
  } finally {
    await redis.quit();
  }
}
