import { Injectable } from '@nestjs/common';

/** CONTRACT §1 `JOB_MAX_ATTEMPTS`: the backoff doubles up to this. */
export const BACKOFF_CAP_MS = 5 * 60 * 1000;

/** Randomness as a port, so tests can pin the jitter. */
@Injectable()
export class JobRandom {
  /** A number in [0, 1). */
  next(): number {
    return Math.random();
  }
}

/** The ceiling of the delay after failed attempt `attempt` (1-based): base, 2·base, 4·base … capped at 5 min. */
export function backoffCeilingMs(attempt: number, baseMs: number): number {
  // Past 2^30 the cap has long been reached; stop before the power overflows to Infinity.
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  return Math.min(BACKOFF_CAP_MS, baseMs * 2 ** exponent);
}

/**
 * "Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * a uniform whole number of ms in [0, ceiling], so retries of many jobs that
 * failed together (a provider outage) spread out instead of returning in waves.
 */
export function fullJitterBackoffMs(attempt: number, baseMs: number, random: number): number {
  const ceiling = backoffCeilingMs(attempt, baseMs);
  const r = Math.min(Math.max(random, 0), 1 - Number.EPSILON);
  return Math.floor(r * (ceiling + 1));
}
