/** A provider's outbound rate: `perSecond` on average, at most `burst` back to back after a quiet spell. */
export interface BucketRate {
  perSecond: number;
  burst: number;
}

export interface Reservation {
  /** The bucket's new state: the earliest time (ms) the next call would go without a burst. */
  tat: number;
  /** How long this caller waits before its call (0: go now). */
  waitMs: number;
}

/**
 * One token of a token bucket, in its "virtual scheduling" form (GCRA, ITU-T
 * I.371): the whole state is one number, the theoretical arrival time `tat`,
 * so it fits in one Redis key and one atomic script. A caller never fails: it
 * reserves the next free slot and waits for it, so the jobs behind a busy
 * provider are held back, not retried. With `burst` 1 the calls are evenly
 * spaced and no one-second window sees more than `perSecond` of them.
 */
export function reserveToken(
  tat: number | undefined,
  nowMs: number,
  rate: BucketRate,
): Reservation {
  const interval = 1000 / rate.perSecond;
  const tolerance = (Math.max(1, rate.burst) - 1) * interval;
  const start = Math.max(tat ?? nowMs, nowMs);
  return { tat: start + interval, waitMs: Math.max(0, start - tolerance - nowMs) };
}

/** Validates a rate at start-up rather than at the first call. */
export function assertRate(name: string, rate: BucketRate): void {
  if (!(rate.perSecond > 0) || !Number.isFinite(rate.perSecond))
    throw new Error(`${name}: the rate must be a positive number per second`);
  if (!Number.isInteger(rate.burst) || rate.burst < 1)
    throw new Error(`${name}: the burst must be a positive integer`);
}
