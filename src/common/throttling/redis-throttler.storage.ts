import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { redisCommand } from '../redis/redis-command';

interface StorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

// One round trip, atomic across instances: count the hit, start the window on the first one.
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}
`;

/** Fixed-window counters in Redis, shared by every instance (`REDIS_URL` set). */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'switchboard:throttle:',
  ) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    name: string,
  ): Promise<StorageRecord> {
    // Unreachable Redis: the request answers 503 rather than going unlimited or hanging.
    const [hits, ttlMs] = (await redisCommand(() =>
      this.redis.eval(INCREMENT, 1, `${this.prefix}${name}:${key}`, ttl),
    )) as [number, number];
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    return {
      totalHits: hits,
      timeToExpire: seconds,
      isBlocked: hits > limit,
      timeToBlockExpire: hits > limit ? seconds : 0,
    };
  }
}
