import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Checks `condition` until it holds, at most `timeoutMs`: for state another
 * process changes, which this one cannot await. A check that throws stops
 * the wait with its error; the timeout names what was awaited.
 */
export async function pollUntil(
  condition: () => boolean | Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; what: string | (() => string) },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : opts.what;
      throw new Error(`gave up after ${opts.timeoutMs} ms waiting for ${what}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}
