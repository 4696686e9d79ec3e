import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../clock';
import { ClusterLock } from '../cluster/cluster-lock';
import { IdempotencyRepository } from './idempotency.repository';

const EVERY_MS = 60 * 60 * 1000;

/**
 * Deletes idempotency records past their 24 h expiry, at start-up and hourly,
 * on one instance at a time ({@link ClusterLock}). An expired record that is
 * still there is already ignored by `claim`: this only reclaims the space.
 */
@Injectable()
export class IdempotencyCleanupService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyCleanupService.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<number | null>;

  constructor(
    private readonly repo: IdempotencyRepository,
    private readonly clock: Clock,
    private readonly lock: ClusterLock,
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
    // The database closes at shutdown too: let a cleanup in flight finish first.
    await this.running;
  }

  /**
   * One cleanup relative to the Clock; returns how many records were deleted,
   * or `null` when another instance was cleaning up at that moment.
   */
  async runOnce(): Promise<number | null> {
    const now = this.clock.now();
    try {
      const run = await this.lock.runExclusive('idempotency-cleanup', (db) =>
        this.repo.deleteExpired(now, db),
      );
      if (!run.ran) {
        this.logger.debug('idempotency cleanup skipped: another instance is running it');
        return null;
      }
      if (run.value > 0) this.logger.log(`deleted ${run.value} expired idempotency records`);
      return run.value;
    } catch (err) {
      this.logger.warn(
        `idempotency cleanup failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 0;
    }
  }
}
