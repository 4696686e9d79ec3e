import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { AppConfig } from '../../config/app.config';
import { APP_CONFIG } from '../../config/config.module';

/** The shared ioredis connection, or `null` when `REDIS_URL` is unset (embedded mode). */
export const REDIS = Symbol('REDIS');
export const InjectRedis = (): ParameterDecorator => Inject(REDIS);

/**
 * The shared connection serves requests (the inbound rate limit) and
 * readiness, so while Redis is unreachable a command fails at once — no
 * offline queue — and one that gets no answer fails after `commandTimeout`:
 * the request answers 503 instead of hanging. Reconnection goes on in the
 * background (at most a second apart), so service resumes by itself.
 */
export const SHARED_REDIS_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  commandTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
};

/** Logs when the shared connection is lost and when it is back, once each per outage. */
function watchConnection(redis: Redis, logger: Logger): void {
  let down = false;
  // Without an 'error' listener a lost connection would crash the process.
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: err.message }, 'redis connection lost; requests that need it answer 503');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log('redis connection restored');
  });
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Redis | null> => {
        if (!config.redis.url) return null;
        // Loaded only when configured, like BullMQ (see JobsModule).
        const { default: RedisClient } = await import('ioredis');
        const redis = new RedisClient(config.redis.url, SHARED_REDIS_OPTIONS);
        watchConnection(redis, new Logger('Redis'));
        await redis.connect();
        return redis;
      },
    },
  ],
  exports: [REDIS],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.redis && this.redis.status !== 'end')
      await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}
