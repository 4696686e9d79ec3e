import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { ClusterLock } from '../common/cluster/cluster-lock';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import { WebhookEventsRepository } from './webhook-events.repository';

const EVERY_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes processed webhook events older than `WEBHOOK_RETENTION_DAYS`, at
 * start-up and hourly, on one instance at a time ({@link ClusterLock}).
 * Failed and dead events stay for operators; the retention (≥ 4 days)
 * outlasts the providers' redeliveries, so dedupe holds.
 */
@Injectable()
export class WebhookRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookRetentionService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number | null>;

  constructor(
    private readonly repo: WebhookEventsRepository,
    private readonly clock: Clock,
    private readonly lock: ClusterLock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.running = this.runOnce();
    this.timer = setInterval(() => {
      this.running = this.runOnce();
    }, EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    // The database closes at shutdown too: let a sweep in flight finish first.
    await this.running;
  }

  /**
   * One sweep relative to the Clock; returns how many events were deleted, or
   * `null` when another instance was sweeping at that moment (its sweep covers ours).
   */
  async runOnce(): Promise<number | null> {
    const cutoff = new Date(
      this.clock.now().getTime() - this.config.webhooks.retentionDays * DAY_MS,
    );
    try {
      const run = await this.lock.runExclusive('webhook-retention', (db) =>
        this.repo.deleteProcessedReceivedBefore(cutoff, db),
      );
      if (!run.ran) {
        this.logger.debug('webhook retention skipped: another instance is running it');
        return null;
      }
      if (run.value > 0)
        this.logger.log(
          `deleted ${run.value} processed webhook events received before ${cutoff.toISOString()}`,
        );
      return run.value;
    } catch (err) {
      this.logger.warn(
        `webhook retention failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 0;
    }
  }
}
