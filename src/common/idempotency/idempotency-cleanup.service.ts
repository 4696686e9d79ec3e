import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../clock';
import { IdempotencyRepository } from './idempotency.repository';

const EVERY_MS = 60 * 60 * 1000;

/** Deletes idempotency records past their 24 h expiry, at start-up and hourly. */
@Injectable()
export class IdempotencyCleanupService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyCleanupService.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repo: IdempotencyRepository,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async runOnce(): Promise<number> {
    try {
      const n = await this.repo.deleteExpired(this.clock.now());
      if (n > 0) this.logger.log(`deleted ${n} expired idempotency records`);
      return n;
    } catch (err) {
      this.logger.warn(
        `idempotency cleanup failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      return 0;
    }
  }
}
