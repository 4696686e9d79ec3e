import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../src/common/clock';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import type { JobEvent } from '../../src/jobs/job-queue';
import { JobQueueDriver } from '../../src/jobs/job-queue.driver';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { JobsModule } from '../../src/jobs/jobs.module';
import { JobRandom } from '../../src/jobs/retry-policy';
import { startTestApp, TestApp } from '../helpers/app';
import { dialectTargets, type DialectTarget } from '../helpers/databases';

export type DriverName = 'local' | 'bullmq';

export interface DriverTarget {
  driver: DriverName;
  database: DialectTarget;
}

const redisUrl = process.env.TEST_REDIS_URL;
let skipNoticePrinted = false;

/** local on every dialect; bullmq on every dialect when `TEST_REDIS_URL` is set (else a notice says why not). */
export function driverTargets(): DriverTarget[] {
  const targets: DriverTarget[] = [];
  for (const database of dialectTargets()) {
    targets.push({ driver: 'local', database });
    if (redisUrl) targets.push({ driver: 'bullmq', database });
  }
  if (!redisUrl && !skipNoticePrinted) {
    skipNoticePrinted = true;
    process.stdout.write('BullMQ job queue suites skipped: TEST_REDIS_URL is not set\n');
  }
  return targets;
}

/** Every event of the queue, and promises for the ones still to come (no sleeping). */
export class EventLog {
  readonly events: JobEvent[] = [];
  private waiters: { match: (e: JobEvent) => boolean; resolve: (e: JobEvent) => void }[] = [];

  readonly push = (event: JobEvent): void => {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(event)) return true;
      w.resolve(event);
      return false;
    });
  };

  waitFor(match: (e: JobEvent) => boolean): Promise<JobEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** Resolves once `count` events match. */
  waitForCount(match: (e: JobEvent) => boolean, count: number): Promise<void> {
    const reached = (): boolean => this.events.filter(match).length >= count;
    if (reached()) return Promise.resolve();
    return new Promise((resolve) =>
      this.waiters.push({ match: (e) => match(e) && reached(), resolve: () => resolve() }),
    );
  }

  of(jobId: string, kind?: JobEvent['kind']): JobEvent[] {
    return this.events.filter((e) => e.jobId === jobId && (kind === undefined || e.kind === kind));
  }
}

/** The time and randomness every instance of one suite sees. */
export interface FakeWorld {
  now: number;
  random: number;
}

/**
 * One application with the job queue on a driver and a database that outlive
 * restarts: `restart()` closes the app and starts a new one on the same
 * database (and Redis prefix). The clock is ours from the first instant of
 * start-up: jobs become due when the test moves `now`, never by waiting.
 */
export class QueueHarness {
  app!: TestApp;
  queue!: JobQueueDriver;
  db!: Db;
  events!: EventLog;

  constructor(
    readonly target: DriverTarget,
    private readonly databaseUrl: string,
    private readonly prefix = `sbtest-${randomBytes(5).toString('hex')}`,
    readonly world: FakeWorld = { now: Date.parse('2030-01-01T00:00:00.000Z'), random: 0.5 },
  ) {}

  get now(): number {
    return this.world.now;
  }

  /** Another instance of the service on the same database, Redis prefix and clock; not yet started. */
  sibling(): QueueHarness {
    return new QueueHarness(this.target, this.databaseUrl, this.prefix, this.world);
  }

  async start(): Promise<void> {
    // On the prototypes, so that start-up itself (the first claim, the first sweep) already runs on our time.
    jest.spyOn(Clock.prototype, 'now').mockImplementation(() => new Date(this.world.now));
    jest.spyOn(JobRandom.prototype, 'next').mockImplementation(() => this.world.random);
    this.app = await startTestApp({
      env: {
        DATABASE_URL: this.databaseUrl,
        JOB_MAX_ATTEMPTS: '3',
        JOB_BACKOFF_BASE_MS: '1000',
        // Explicit either way: in scale-out mode an app gets Redis unless told otherwise.
        REDIS_URL: this.target.driver === 'bullmq' ? redisUrl : undefined,
      },
      imports: [
        JobsModule,
        // A long poll proves that enqueue wakes the runner; a short shutdown keeps the suite fast.
        JobQueueOptionsModule.forRoot({
          bullmqPrefix: this.prefix,
          pollIntervalMs: 60_000,
          shutdownTimeoutMs: 3000,
        }),
      ],
    });
    this.queue = this.app.app.get(JobQueueDriver);
    this.db = this.app.app.get<Db>(DATABASE);
    this.events = new EventLog();
    this.queue.subscribe(this.events.push);
  }

  async restart(): Promise<void> {
    await this.app.close();
    await this.start();
  }

  advance(ms: number): void {
    this.world.now += ms;
  }

  iso(offsetMs = 0): string {
    return new Date(this.world.now + offsetMs).toISOString();
  }

  async close(): Promise<void> {
    await this.app?.close();
    if (this.target.driver === 'bullmq' && redisUrl)
      await deleteRedisKeys(redisUrl, `${this.prefix}:*`);
  }
}

async function deleteRedisKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

/** A promise with its resolver, to hold a handler until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
