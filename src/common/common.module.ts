import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { ClusterLock } from './cluster/cluster-lock';
import { IdempotencyCleanupService } from './idempotency/idempotency-cleanup.service';
import { IdempotencyInterceptor } from './idempotency/idempotency.interceptor';
import { IdempotencyRepository } from './idempotency/idempotency.repository';

/** Cross-cutting pieces every feature module uses. */
@Global()
@Module({
  providers: [
    Clock,
    ClusterLock,
    IdempotencyRepository,
    IdempotencyInterceptor,
    IdempotencyCleanupService,
  ],
  exports: [Clock, ClusterLock, IdempotencyRepository, IdempotencyInterceptor],
})
export class CommonModule {}
