import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import type { AppConfig } from '../../config/app.config';
import { APP_CONFIG } from '../../config/config.module';

/** The shared ioredis connection, or `null` when `REDIS_URL` is unset (embedded mode). */
export const REDIS = Symbol('REDIS');
export const InjectRedis = (): ParameterDecorator => Inject(REDIS);

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<Redis | null> => {
        if (!config.redis.url) return null;
        const redis = new Redis(config.redis.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
        // Without a listener a lost connection would crash the process; readiness reports it instead.
        redis.on('error', () => undefined);
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
