import { Logger } from '@nestjs/common';
import type { Clock } from '../common/clock';
import type { AppConfig } from '../config/app.config';
import { afterCommit } from '../database/transaction';
import { newJobId } from './job-id';
import { JobExecutor } from './job-executor';
import {
  EnqueueOptions,
  JobEventListener,
  JobQueue,
  JobStatus,
  JobTypeOptions,
  JobView,
} from './job-queue';
import type { JobQueueOptions } from './job-queue.options';
import { JobRow, JobsRepository, toJobView } from './jobs.repository';
import type { JobRandom } from './retry-policy';

/** Job type names: also BullMQ queue names, which must not contain `:`. */
export const JOB_TYPE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,99}$/;

/**
 * After a transactional enqueue in a transaction not opened by `inTransaction`
 * we cannot see the commit, so we look for the
 * row a few times (on SQLite the first look simply waits for the transaction,
 * which holds the only connection); a row found later is the poller's or the
 * sweeper's.
 */
const COMMIT_PROBE_DELAYS_MS = [0, 5, 25, 100, 500, 2000];
const CLEANUP_EVERY_MS = 60 * 60 * 1000;

export type DispatchRow = Pick<JobRow, 'id' | 'type' | 'attempts' | 'run_at'>;

/**
 * What the two drivers share: the `jobs` table is the source of truth (enqueue,
 * list, get, retry all go through it), one {@link JobExecutor} runs attempts,
 * and the lifecycle (`start` after the app is up, `stop` before it goes down).
 * A driver only decides how stored jobs reach a runner: {@link dispatch}.
 */
export abstract class JobQueueDriver extends JobQueue {
  protected readonly logger = new Logger('JobQueue');
  protected readonly executor: JobExecutor;
  protected started = false;
  protected stopping = false;
  private stopped?: Promise<void>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tasks = new Set<Promise<unknown>>();

  constructor(
    protected readonly repo: JobsRepository,
    protected readonly clock: Clock,
    random: JobRandom,
    protected readonly config: AppConfig,
    protected readonly options: JobQueueOptions,
  ) {
    super();
    this.executor = new JobExecutor(repo, clock, random, {
      backoffBaseMs: config.jobs.backoffBaseMs,
      leaseMs: options.leaseMs,
    });
  }

  /** `local` or `bullmq`, for the start-up log. */
  abstract readonly driverName: string;

  /** Hands stored, committed jobs to the runners (local: wake up; BullMQ: relay to Redis). */
  protected abstract dispatch(rows: readonly DispatchRow[]): Promise<void>;
  protected abstract onRegistered(type: string): void;
  protected abstract startDriver(): Promise<void>;
  /** Stops taking jobs, lets running ones finish within `shutdownTimeoutMs`, closes connections. */
  protected abstract stopDriver(): Promise<void>;

  register<P>(type: string, options: JobTypeOptions<P>): void {
    if (!JOB_TYPE_PATTERN.test(type))
      throw new Error(`job type "${type}" must match ${JOB_TYPE_PATTERN.source}`);
    this.executor.register(type, options as JobTypeOptions<unknown>);
    if (this.started && !this.stopping) this.onRegistered(type);
  }

  async enqueue<P>(type: string, payload: P, options: EnqueueOptions = {}): Promise<string> {
    const [id] = await this.enqueueMany(type, [payload], options);
    return id;
  }

  async enqueueMany<P>(
    type: string,
    payloads: readonly P[],
    options: EnqueueOptions = {},
  ): Promise<string[]> {
    if (!JOB_TYPE_PATTERN.test(type))
      throw new Error(`job type "${type}" must match ${JOB_TYPE_PATTERN.source}`);
    const maxAttempts = options.maxAttempts ?? this.config.jobs.maxAttempts;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
      throw new Error('maxAttempts must be a positive integer');
    if (payloads.length === 0) return [];
    const now = this.clock.now();
    const iso = now.toISOString();
    const runAt = (options.runAt ?? now).toISOString();
    const rows = payloads.map((payload): JobRow => ({
      id: newJobId(now),
      type,
      payload: JSON.stringify(payload ?? null),
      status: 'queued',
      attempts: 0,
      max_attempts: maxAttempts,
      last_error: null,
      run_at: runAt,
      locked_until: null,
      created_at: iso,
      updated_at: iso,
    }));
    await this.repo.insertMany(rows, options.trx);
    if (!options.trx) this.track(this.dispatch(rows));
    else if (!afterCommit(options.trx, () => this.track(this.dispatch(rows))))
      for (const row of rows) this.dispatchAfterCommit(row, 0);
    return rows.map((row) => row.id);
  }

  list(filter: {
    status?: JobStatus;
    limit: number;
    cursor?: string;
  }): Promise<{ data: JobView[]; nextCursor: string | null }> {
    return this.repo.list(filter);
  }

  async get(id: string): Promise<JobView | undefined> {
    const row = await this.repo.findById(id);
    return row && toJobView(row);
  }

  async retry(id: string): Promise<JobView | undefined> {
    const row = await this.repo.resetDead(id, this.clock.now());
    if (!row) return undefined;
    this.logger.log({ jobId: row.id, jobType: row.type }, 'dead job queued again');
    this.track(this.dispatch([row]));
    return toJobView(row);
  }

  /** Listens to every attempt's events in this process; returns the unsubscribe function. */
  subscribe(listener: JobEventListener): () => void {
    return this.executor.subscribe(listener);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.executor.startHeartbeat();
    const cleanup = setInterval(() => void this.deleteOldDoneJobs(), CLEANUP_EVERY_MS);
    cleanup.unref();
    this.timers.add(cleanup);
    await this.startDriver();
    this.logger.log(
      `job queue: ${this.driverName} driver, ${this.executor.registrations().length} job types`,
    );
  }

  /** Idempotent; after it, enqueue still stores jobs (they run in the next process) but nothing runs here. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.started) await this.stopDriver();
    this.executor.stopHeartbeat();
    await this.withTimeout(Promise.allSettled([...this.tasks]), this.options.shutdownTimeoutMs);
  }

  protected assertRunning(): void {
    if (!this.started) throw new Error('the job runner has not started');
    if (this.stopping) throw new Error('the job runner is stopping');
  }

  /** Waits for the running attempts, at most `shutdownTimeoutMs`; false when some are still running. */
  protected async drainRunning(): Promise<boolean> {
    const drained = await this.withTimeout(
      this.executor.whenSettled(),
      this.options.shutdownTimeoutMs,
    );
    if (!drained) {
      this.logger.warn(
        { running: this.executor.runningCount() },
        'shutdown: jobs still running after the timeout; they run again elsewhere when their lease expires',
      );
    }
    return drained;
  }

  /** A timer that `stop()` clears and that never keeps the process alive. */
  protected setTimer(fn: () => void, ms: number): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  /** Background work that `stop()` waits for; its failure is logged, never unhandled. */
  protected track(promise: Promise<unknown>): void {
    const tracked = promise.catch((err: unknown) =>
      this.logger.warn(
        { err: err instanceof Error ? { type: err.name, message: err.message } : String(err) },
        'job dispatch failed',
      ),
    );
    this.tasks.add(tracked);
    void tracked.finally(() => this.tasks.delete(tracked));
  }

  protected async withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
      timer.unref();
    });
    try {
      return await Promise.race([promise.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private dispatchAfterCommit(row: JobRow, step: number): void {
    this.setTimer(() => {
      this.track(
        (async () => {
          if (this.stopping) return;
          if (await this.repo.exists(row.id)) await this.dispatch([row]);
          else if (step + 1 < COMMIT_PROBE_DELAYS_MS.length)
            this.dispatchAfterCommit(row, step + 1);
        })(),
      );
    }, COMMIT_PROBE_DELAYS_MS[step]);
  }

  private async deleteOldDoneJobs(): Promise<void> {
    try {
      const n = await this.repo.deleteDoneBefore(
        new Date(this.clock.now().getTime() - this.options.doneRetentionMs),
      );
      if (n > 0) this.logger.log(`deleted ${n} finished jobs`);
    } catch (err) {
      this.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'finished-job cleanup failed',
      );
    }
  }
}
