import {
  BeforeApplicationShutdown,
  Global,
  Module,
  OnApplicationBootstrap,
  OnModuleInit,
} from '@nestjs/common';
import { Clock } from '../common/clock';
import type { AppConfig } from '../config/app.config';
import { APP_CONFIG } from '../config/config.module';
import { ReadinessRegistry } from '../health/readiness';
import { JobQueue } from './job-queue';
import { JobQueueDriver } from './job-queue.driver';
import { DEFAULT_JOB_QUEUE_OPTIONS, JOB_QUEUE_OPTIONS, JobQueueOptions } from './job-queue.options';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { LocalJobQueue } from './local-job-queue';
import { JobRandom } from './retry-policy';

/**
 * The background-job queue. Global: modules inject {@link JobQueue} and
 * register their job types in `onModuleInit`. The driver follows `REDIS_URL`:
 * BullMQ when set, the embedded runner otherwise. Jobs start running once the
 * whole app is up and stop before its connections close.
 */
@Global()
@Module({
  controllers: [JobsController],
  providers: [
    JobsRepository,
    JobRandom,
    {
      provide: JobQueueDriver,
      inject: [
        APP_CONFIG,
        JobsRepository,
        Clock,
        JobRandom,
        { token: JOB_QUEUE_OPTIONS, optional: true },
      ],
      useFactory: async (
        config: AppConfig,
        repo: JobsRepository,
        clock: Clock,
        random: JobRandom,
        overrides?: Partial<JobQueueOptions>,
      ): Promise<JobQueueDriver> => {
        const options = { ...DEFAULT_JOB_QUEUE_OPTIONS, ...overrides };
        if (!config.redis.url) return new LocalJobQueue(repo, clock, random, config, options);
        // Loaded only when configured: BullMQ and ioredis are ≈ 12 MB of an embedded instance's memory.
        const { BullmqJobQueue } = await import('./bullmq-job-queue');
        return new BullmqJobQueue(repo, clock, random, config, options, config.redis.url);
      },
    },
    { provide: JobQueue, useExisting: JobQueueDriver },
  ],
  exports: [JobQueue, JobQueueDriver],
})
export class JobsModule implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly queue: JobQueueDriver,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.register({ name: 'jobs', check: () => this.queue.ping() });
  }

  /** After every module's onModuleInit, so all job types are registered before the first claim. */
  async onApplicationBootstrap(): Promise<void> {
    await this.queue.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.queue.stop();
  }
}
