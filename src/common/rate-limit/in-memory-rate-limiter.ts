import type { Clock } from '../clock';
import type { ProviderId } from '../../config/app.config';
import { RateLimiter, type Sleeper } from './rate-limiter';
import { assertRate, type BucketRate, reserveToken } from './token-bucket';

/** One token bucket per provider in this process (embedded mode: one instance). */
export class InMemoryRateLimiter extends RateLimiter {
  private readonly tats = new Map<ProviderId, number>();

  constructor(
    private readonly rates: Readonly<Record<ProviderId, BucketRate>>,
    private readonly clock: Clock,
    private readonly sleeper: Sleeper,
  ) {
    super();
    for (const [provider, rate] of Object.entries(rates)) assertRate(provider, rate);
  }

  async acquire(provider: ProviderId): Promise<void> {
    const rate = this.rates[provider];
    if (!rate) throw new Error(`no outbound rate for ${provider}`);
    const { tat, waitMs } = reserveToken(this.tats.get(provider), this.clock.now().getTime(), rate);
    this.tats.set(provider, tat);
    await this.sleeper.sleep(waitMs);
  }
}
