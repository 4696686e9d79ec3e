/**
 * `TEST_SCALEOUT=1` (`npm run test:scaleout`) runs the end-to-end suites the
 * way operators run several instances: PostgreSQL (`TEST_DATABASE_URL`) is the
 * only dialect and Redis (`TEST_REDIS_URL`) the default `REDIS_URL`, so jobs
 * run on BullMQ and rate limits live in Redis unless a test chooses otherwise.
 * Without it, suites run on SQLite and the embedded drivers, and on
 * PostgreSQL / BullMQ in addition when those URLs are set.
 */
export const SCALEOUT_MODE = /^(1|true|yes)$/i.test(process.env.TEST_SCALEOUT ?? '');

/** The Redis every app of a scale-out run uses; throws when the mode is on without one. */
export function scaleoutRedisUrl(): string | undefined {
  if (!SCALEOUT_MODE) return undefined;
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_SCALEOUT=1 needs TEST_REDIS_URL (and TEST_DATABASE_URL)');
  return url;
}

/**
 * The job drivers a suite runs on, `env` selecting one: local always and
 * BullMQ when `TEST_REDIS_URL` is set; in scale-out mode BullMQ only.
 */
export function queueTargets(): { driver: 'local' | 'bullmq'; env: Record<string, string> }[] {
  const redis = process.env.TEST_REDIS_URL;
  const bullmq = redis ? [{ driver: 'bullmq' as const, env: { REDIS_URL: redis } }] : [];
  if (SCALEOUT_MODE) {
    scaleoutRedisUrl();
    return bullmq;
  }
  return [{ driver: 'local' as const, env: {} }, ...bullmq];
}
