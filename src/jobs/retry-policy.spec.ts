import fc from 'fast-check';
import { BACKOFF_CAP_MS, backoffCeilingMs, fullJitterBackoffMs } from './retry-policy';

describe('fullJitterBackoffMs', () => {
  it('doubles the ceiling from the base per attempt', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffCeilingMs(a, 1000))).toEqual([
      1000, 2000, 4000, 8000, 16_000,
    ]);
  });

  it('caps the ceiling at 5 minutes, even for absurd attempt numbers', () => {
    expect(backoffCeilingMs(9, 1000)).toBe(256_000);
    expect(backoffCeilingMs(10, 1000)).toBe(BACKOFF_CAP_MS);
    expect(backoffCeilingMs(1_000_000, 1000)).toBe(BACKOFF_CAP_MS);
    expect(backoffCeilingMs(1, 10 * 60 * 1000)).toBe(BACKOFF_CAP_MS);
  });

  it('spans the whole range [0, ceiling]: 0 for the lowest random, the ceiling for the highest', () => {
    expect(fullJitterBackoffMs(3, 1000, 0)).toBe(0);
    expect(fullJitterBackoffMs(3, 1000, 0.9999999999)).toBe(4000);
    expect(fullJitterBackoffMs(3, 1000, 0.5)).toBe(2000);
    expect(fullJitterBackoffMs(20, 1000, 0.9999999999)).toBe(BACKOFF_CAP_MS);
  });

  it('is always a whole number of ms within [0, min(cap, base·2^(attempt−1))]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, base, r) => {
          const delay = fullJitterBackoffMs(attempt, base, r);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(BACKOFF_CAP_MS, base * 2 ** (attempt - 1)));
        },
      ),
    );
  });
});
