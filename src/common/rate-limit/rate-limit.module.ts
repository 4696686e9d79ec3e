import { Global, Module } from '@nestjs/common';
import type Redis from 'ioredis';
import { Clock } from '../clock';
import { REDIS } from '../redis/redis.module';
import type { AppConfig, ProviderId } from '../../config/app.config';
import { APP_CONFIG } from '../../config/config.module';
import { InMemoryRateLimiter } from './in-memory-rate-limiter';
import { RateLimiter, Sleeper } from './rate-limiter';
import { RedisRateLimiter } from './redis-rate-limiter';
import type { BucketRate } from './token-bucket';

/** The configured outbound rates; burst 1, so no one-second window exceeds `*_MAX_RPS`. */
export function outboundRates(config: AppConfig): Record<ProviderId, BucketRate> {
  return {
    stripe: { perSecond: config.stripe.maxRps, burst: 1 },
    twilio: { perSecond: config.twilio.maxRps, burst: 1 },
    sendgrid: { perSecond: config.sendgrid.maxRps, burst: 1 },
  };
}

/** Provides {@link RateLimiter}: in Redis when `REDIS_URL` is set, else in this process. */
@Global()
@Module({
  providers: [
    Sleeper,
    {
      provide: RateLimiter,
      inject: [APP_CONFIG, REDIS, Clock, Sleeper],
      useFactory: (
        config: AppConfig,
        redis: Redis | null,
        clock: Clock,
        sleeper: Sleeper,
      ): RateLimiter =>
        redis
          ? new RedisRateLimiter(redis, outboundRates(config), clock, sleeper)
          : new InMemoryRateLimiter(outboundRates(config), clock, sleeper),
    },
  ],
  exports: [RateLimiter],
})
export class RateLimitModule {}
