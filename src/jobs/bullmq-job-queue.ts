import { DelayedError, Job, Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import type { Clock } from '../common/clock';
import type { AppConfig } from '../config/app.config';
import { DispatchRow, JobQueueDriver } from './job-queue.driver';
import type { JobQueueOptions } from './job-queue.options';
import type { JobsRepository } from './jobs.repository';
import type { JobRandom } from './retry-policy';

/** How long each step of closing BullMQ may take before it is forced. */
const CLOSE_TIMEOUT_MS = 3000;
/** What a BullMQ message says: run job `id` if it is still at `attempts` (else the message is stale). */
interface RelayData {
  id: string;
  attempts: number;
}

/** A message that arrives before its row is due (clock skew) looks again after at least this long. */
const MIN_REDELAY_MS = 100;
const SWEEP_BATCH = 500;
const IDLE_CHECK_MS = 10;

/** `host:port` of a Redis URL: safe to log (no password). */
export function describeRedis(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || 6379}`;
}

/**
 * The scale-out driver: BullMQ (Redis) moves the work between instances, the
 * `jobs` table stays the source of truth.
 *
 * Redis cannot join the caller's SQL transaction, so the row is an outbox: it
 * is written inside the transaction and relayed to BullMQ once committed (at
 * once, or by the sweeper when a crash or a Redis outage came in between). A
 * BullMQ message only says "run job X at attempt N": the runner claims the row
 * with the same fenced UPDATE as the local driver, so a message relayed twice,
 * or redelivered by BullMQ's stalled-job check, never runs a job twice, and a
 * job whose runner died is relayed again by the sweeper once its lease expires.
 * Retries and dead-lettering are ours too (the shared executor), not BullMQ's,
 * so both drivers behave the same and `GET /jobs` reads one table.
 */
export class BullmqJobQueue extends JobQueueDriver {
  readonly driverName: string;
  private connection?: Redis;
  private readonly queues = new Map<string, Queue<RelayData>>();
  private readonly workers = new Map<string, Worker<RelayData>>();
  private readonly processing = new Set<Promise<void>>();
  /** Bumped whenever an attempt here ends, so whenIdle can tell one ended while it looked. */
  private finishedAttempts = 0;
  private sweeper?: NodeJS.Timeout;

  constructor(
    repo: JobsRepository,
    clock: Clock,
    random: JobRandom,
    config: AppConfig,
    options: JobQueueOptions,
    private readonly redisUrl: string,
  ) {
    super(repo, clock, random, config, options);
    this.driverName = `bullmq (redis ${describeRedis(redisUrl)}, prefix ${options.bullmqPrefix})`;
  }

  /**
   * Nothing running here, no message of our types waiting in Redis, and no
   * stored job of our types due now (by our clock). Like the local driver it
   * does not wait for other processes: BullMQ's `active` messages are not
   * counted, since one left by a dead worker stays active until BullMQ's stall
   * check (its row is re-run after its lease, through the sweeper).
   */
  async whenIdle(): Promise<void> {
    for (;;) {
      if (!this.started || this.stopping) {
        // Workers are paused: only what already runs here can still finish.
        await Promise.allSettled([...this.processing]);
        return;
      }
      const finishedBefore = this.finishedAttempts;
      await this.sweep(0);
      const types = this.executor.registrations().map((r) => r.type);
      // In the order a job moves (due row → waiting message → processing here), so one
      // moving on between two checks is still seen by the later one.
      const busy =
        (await this.repo.countClaimable(types, this.clock.now())) > 0 ||
        (await this.redisBusy()) ||
        this.processing.size > 0 ||
        // An attempt that ended meanwhile may have stored its retry after the first look.
        this.finishedAttempts !== finishedBefore;
      if (!busy) return;
      await new Promise<void>((resolve) => setTimeout(resolve, IDLE_CHECK_MS));
    }
  }

  async ping(): Promise<void> {
    this.assertRunning();
    if (!this.connection) throw new Error('not connected to Redis');
    await this.connection.ping();
    await this.repo.ping();
  }

  protected async dispatch(rows: readonly DispatchRow[]): Promise<void> {
    if (!this.started || this.stopping || rows.length === 0) return;
    await this.relay(rows, false);
  }

  protected onRegistered(type: string): void {
    this.startWorker(type);
  }

  protected async startDriver(): Promise<void> {
    const connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    // BullMQ reconnects by itself; without a listener a lost connection would crash the process.
    connection.on('error', (err) =>
      this.logger.warn({ err: err.message }, 'redis (jobs) connection error'),
    );
    await connection.connect();
    this.connection = connection;
    for (const { type } of this.executor.registrations()) this.startWorker(type);
    // Rows committed but never relayed before the last shutdown or crash.
    await this.sweep(0).catch((err: unknown) =>
      this.logger.warn({ err: String(err) }, 'start-up sweep failed'),
    );
    this.sweeper = setInterval(
      () => void this.sweep(this.options.sweepGraceMs).catch(() => undefined),
      this.options.sweepIntervalMs,
    );
    this.sweeper.unref();
  }

  protected async stopDriver(): Promise<void> {
    clearInterval(this.sweeper);
    const workers = [...this.workers.values()];
    // Stop fetching, let what runs finish (bounded), then close; a forced close leaves
    // the rows `running` and the sweeper of another instance relays them after the lease.
    await Promise.all(workers.map((w) => w.pause(true).catch(() => undefined)));
    if (await this.drainRunning())
      await this.withTimeout(
        Promise.allSettled([...this.processing]),
        this.options.shutdownTimeoutMs,
      );
    // Always BullMQ's forced close: what ran has finished (or we chose not to wait for it), and
    // its graceful close waits for the blocking connection to end, which never happens while
    // that connection is reconnecting (Redis down, or just back). A second close() only returns
    // the first one's promise, so a graceful close that hangs can no longer be forced, and its
    // lock-renewal timer would keep the process alive.
    await this.withTimeout(
      Promise.all(workers.map((w) => w.close(true).catch(() => undefined))),
      CLOSE_TIMEOUT_MS,
    );
    await this.withTimeout(
      Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined))),
      CLOSE_TIMEOUT_MS,
    );
    this.workers.clear();
    this.queues.clear();
    const connection = this.connection;
    if (connection && connection.status !== 'end') {
      const quit = await this.withTimeout(
        connection.quit().catch(() => undefined),
        CLOSE_TIMEOUT_MS,
      );
      if (!quit) connection.disconnect();
    }
  }

  private queue(type: string): Queue<RelayData> {
    let queue = this.queues.get(type);
    if (!queue) {
      if (!this.connection) throw new Error('not connected to Redis');
      queue = new Queue<RelayData>(type, {
        connection: this.connection,
        prefix: this.options.bullmqPrefix,
      });
      queue.on('error', (err) =>
        this.logger.warn({ jobType: type, err: err.message }, 'bullmq queue error'),
      );
      this.queues.set(type, queue);
    }
    return queue;
  }

  private startWorker(type: string): void {
    if (this.workers.has(type) || !this.connection) return;
    const registration = this.executor.registrations().find((r) => r.type === type);
    if (!registration) return;
    const worker = new Worker<RelayData>(
      type,
      (job, token) => {
        const work = this.process(job, token);
        const tracked = work.catch(() => undefined);
        this.processing.add(tracked);
        void tracked.finally(() => {
          this.processing.delete(tracked);
          this.finishedAttempts += 1;
        });
        return work;
      },
      {
        connection: this.connection,
        prefix: this.options.bullmqPrefix,
        concurrency: registration.concurrency,
      },
    );
    worker.on('error', (err) =>
      this.logger.warn({ jobType: type, err: err.message }, 'bullmq worker error'),
    );
    this.workers.set(type, worker);
  }

  private async process(job: Job<RelayData>, token: string | undefined): Promise<void> {
    const { id, attempts } = job.data;
    const now = this.clock.now();
    const claim = await this.repo.claimOne(id, attempts, now, this.executor.leaseUntil(now));
    if (claim.kind === 'stale') return;
    if (claim.kind === 'later') {
      const wait = Math.max(MIN_REDELAY_MS, claim.at.getTime() - now.getTime());
      await job.moveToDelayed(Date.now() + wait, token);
      throw new DelayedError();
    }
    const outcome = await this.executor.run(claim.row);
    if (outcome.kind === 'retry') {
      // A failed relay is not lost: the sweeper relays the row once it is overdue.
      await this.relay([outcome.row], false).catch((err: unknown) =>
        this.logger.warn(
          { jobId: id, err: err instanceof Error ? err.message : String(err) },
          'could not schedule the retry in redis',
        ),
      );
    }
  }

  /**
   * Sends one message per row; BullMQ ignores a message whose id (row id +
   * attempts) it already holds. With `promote`, a held message that is still
   * delayed although the row is due (our clock says so) is made to run now.
   */
  private async relay(rows: readonly DispatchRow[], promote: boolean): Promise<void> {
    const now = this.clock.now().getTime();
    const byType = new Map<
      string,
      {
        name: string;
        data: RelayData;
        opts: { jobId: string; delay: number; removeOnComplete: true; removeOnFail: true };
      }[]
    >();
    for (const row of rows) {
      const jobId = `${row.id}-${Number(row.attempts)}`;
      const delay = Math.max(0, Date.parse(row.run_at) - now);
      if (promote && delay === 0) {
        const held = await this.queue(row.type).getJob(jobId);
        if (held) {
          if (await held.isDelayed()) await held.promote().catch(() => undefined);
          continue;
        }
      }
      const batch = byType.get(row.type) ?? [];
      batch.push({
        name: row.type,
        data: { id: row.id, attempts: Number(row.attempts) },
        opts: { jobId, delay, removeOnComplete: true, removeOnFail: true },
      });
      byType.set(row.type, batch);
    }
    for (const [type, batch] of byType) {
      const queue = this.queue(type);
      if (batch.length === 1) await queue.add(batch[0].name, batch[0].data, batch[0].opts);
      else await queue.addBulk(batch);
    }
  }

  /** Relays rows that should be in Redis by now: never relayed (crash after commit), lost, or orphaned by a dead runner. */
  private async sweep(graceMs: number): Promise<void> {
    if (!this.connection) return;
    const rows = await this.repo.findRelayable(this.clock.now(), graceMs, SWEEP_BATCH);
    if (rows.length > 0) await this.relay(rows, true);
  }

  private async redisBusy(): Promise<boolean> {
    for (const { type } of this.executor.registrations()) {
      const queue = this.queues.get(type);
      if (!queue) continue;
      const counts = await queue.getJobCounts('wait', 'prioritized');
      if (Object.values(counts).some((n) => n > 0)) return true;
    }
    return false;
  }
}
