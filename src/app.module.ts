import { DynamicModule, Module, Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import type Redis from 'ioredis';
import type { DestinationStream } from 'pino';
import { ApiKeyGuard } from './common/auth/api-key.guard';
import { CommonModule } from './common/common.module';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter';
import { createValidationPipe } from './common/http/validation';
import { LoggingModule } from './common/logging/logging.module';
import { RateLimitModule } from './common/rate-limit/rate-limit.module';
import { REDIS, RedisModule } from './common/redis/redis.module';
import { ApiKeyThrottlerGuard } from './common/throttling/api-key-throttler.guard';
import { RedisThrottlerStorage } from './common/throttling/redis-throttler.storage';
import type { AppConfig } from './config/app.config';
import { APP_CONFIG, AppConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { EmailModule } from './email/email.module';
import { HealthModule } from './health/health.module';
import { JobsModule } from './jobs/jobs.module';
import { PaymentsModule } from './payments/payments.module';
import { SmsModule } from './sms/sms.module';
import { WebhooksModule } from './webhooks/webhooks.module';

export interface AppModuleOptions {
  /** Extra modules, e.g. a test-only controller. */
  imports?: (Type | DynamicModule)[];
  /** Where log lines go instead of stdout (tests read them). */
  logDestination?: DestinationStream;
}

/** The whole service for one validated configuration. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, opts: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule.forRoot(opts.logDestination),
        DatabaseModule,
        RedisModule,
        CommonModule,
        RateLimitModule,
        ThrottlerModule.forRootAsync({
          inject: [APP_CONFIG, REDIS],
          useFactory: (cfg: AppConfig, redis: Redis | null) => ({
            throttlers: [{ name: 'default', ttl: 60_000, limit: cfg.auth.rateLimitPerMinute }],
            ...(redis ? { storage: new RedisThrottlerStorage(redis) } : {}),
          }),
        }),
        HealthModule,
        JobsModule,
        WebhooksModule,
        EmailModule,
        PaymentsModule,
        SmsModule,
        ...(opts.imports ?? []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
        // Order matters: authenticate first, then count the request against its key.
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_GUARD, useClass: ApiKeyThrottlerGuard },
      ],
    };
  }
}
