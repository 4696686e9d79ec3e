import { Injectable } from '@nestjs/common';
import type { ProviderId } from '../../config/app.config';

/**
 * Outbound rate limits per provider (CONTRACT §1 `*_MAX_RPS`). A job calls
 * `acquire` before each provider request; it resolves when the request may
 * go, so a busy provider holds jobs back instead of failing them. Embedded
 * (this process) without `REDIS_URL`, shared by every instance with it.
 */
export abstract class RateLimiter {
  abstract acquire(provider: ProviderId): Promise<void>;
}

/** Waiting, as a port: tests move a fake clock instead of sleeping. */
@Injectable()
export class Sleeper {
  sleep(ms: number): Promise<void> {
    return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
  }
}
