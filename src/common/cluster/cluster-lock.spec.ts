import { advisoryLockKey } from './cluster-lock';

describe(advisoryLockKey.name, () => {
  it('gives each task name its own stable signed 64-bit key', () => {
    const a = advisoryLockKey('webhook-retention');
    expect(advisoryLockKey('webhook-retention')).toBe(a);
    expect(advisoryLockKey('idempotency-cleanup')).not.toBe(a);
    for (const key of [a, advisoryLockKey('idempotency-cleanup')]) {
      const n = BigInt(key);
      expect(n >= -(2n ** 63n) && n < 2n ** 63n).toBe(true);
    }
  });
});
