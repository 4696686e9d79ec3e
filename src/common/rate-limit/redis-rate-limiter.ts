import type Redis from 'ioredis';
import { redisCommand } from '../redis/redis-command';
import type { Clock } from '../clock';
import type { ProviderId } from '../../config/app.config';
import { RateLimiter, type Sleeper } from './rate-limiter';
import { assertRate, type BucketRate } from './token-bucket';

// reserveToken (token-bucket.ts) as one atomic script, so every instance draws from one bucket.
// Times are ms with fractions (an interval is 1000/rps), kept as %.3f strings.
const RESERVE = `
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local nextTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now) + 1000)
return string.format('%.3f', wait)
`;

/** The token buckets in Redis, shared by every instance (`REDIS_URL` set). Uses the callers' clocks (NTP-synced). */
export class RedisRateLimiter extends RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly rates: Readonly<Record<ProviderId, BucketRate>>,
    private readonly clock: Clock,
    private readonly sleeper: Sleeper,
    private readonly prefix = 'switchboard:outbound-rate:',
  ) {
    super();
    for (const [provider, rate] of Object.entries(rates)) assertRate(provider, rate);
  }

  async acquire(provider: ProviderId): Promise<void> {
    const rate = this.rates[provider];
    if (!rate) throw new Error(`no outbound rate for ${provider}`);
    const interval = 1000 / rate.perSecond;
    const tolerance = (rate.burst - 1) * interval;
    const wait = (await redisCommand(() =>
      this.redis.eval(
        RESERVE,
        1,
        `${this.prefix}${provider}`,
        this.clock.now().getTime(),
        interval,
        tolerance,
      ),
    )) as string;
    await this.sleeper.sleep(Math.ceil(Number(wait)));
  }
}
