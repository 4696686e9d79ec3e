import { Logger } from '@nestjs/common';
import type { Clock } from '../common/clock';
import { AppError } from '../common/errors/app-error';
import {
  JobContext,
  JobEvent,
  JobEventListener,
  JobTypeOptions,
  PermanentJobError,
  RetryableJobError,
} from './job-queue';
import type { JobRow, JobsRepository } from './jobs.repository';
import { fullJitterBackoffMs, type JobRandom } from './retry-policy';

export const DEFAULT_JOB_CONCURRENCY = 4;
const MAX_ERROR_LENGTH = 500;

export interface JobTypeRegistration {
  type: string;
  options: JobTypeOptions<unknown>;
  concurrency: number;
}

/** What became of one claimed attempt; `lost` when another runner took the job over meanwhile. */
export type ExecutionOutcome =
  | { kind: 'done' }
  | { kind: 'retry'; row: Pick<JobRow, 'id' | 'type' | 'attempts' | 'run_at'> }
  | { kind: 'dead' }
  | { kind: 'lost' };

/**
 * What `last_error` shows an operator: our own errors as written; anything
 * else only by its class, since its message may quote SQL or personal data
 * (the log has the whole error).
 */
export function describeJobError(err: unknown): string {
  let message: string;
  if (err instanceof AppError) message = `${err.code}: ${err.message}`;
  else if (err instanceof RetryableJobError || err instanceof PermanentJobError)
    message = err.message;
  else if (err instanceof Error) message = `unexpected ${err.name}`;
  else message = 'unexpected error';
  // eslint-disable-next-line no-control-regex
  const clean = message.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length > MAX_ERROR_LENGTH ? `${clean.slice(0, MAX_ERROR_LENGTH - 1)}…` : clean;
}

function errorForLog(err: unknown): { type: string; message: string } | string {
  return err instanceof Error ? { type: err.name, message: err.message } : String(err);
}

/**
 * Runs claimed jobs, whatever driver claimed them: calls the handler, records
 * the outcome in the row (done, retry with backoff, dead + `onDead`), keeps
 * the leases of running jobs alive, and reports events. Both drivers share it,
 * so their retry and dead-letter behaviour cannot drift apart.
 */
export class JobExecutor {
  private readonly logger = new Logger('JobQueue');
  private readonly types = new Map<string, JobTypeRegistration>();
  private readonly running = new Map<string, { type: string; done: Promise<ExecutionOutcome> }>();
  private readonly perType = new Map<string, number>();
  private readonly listeners = new Set<JobEventListener>();
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly repo: JobsRepository,
    private readonly clock: Clock,
    private readonly random: JobRandom,
    private readonly settings: { backoffBaseMs: number; leaseMs: number },
  ) {}

  register(type: string, options: JobTypeOptions<unknown>): JobTypeRegistration {
    if (this.types.has(type)) throw new Error(`job type ${type} is already registered`);
    const concurrency = options.concurrency ?? DEFAULT_JOB_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new Error(`job type ${type}: concurrency must be a positive integer`);
    const registration = { type, options, concurrency };
    this.types.set(type, registration);
    return registration;
  }

  registrations(): JobTypeRegistration[] {
    return [...this.types.values()];
  }

  isRegistered(type: string): boolean {
    return this.types.has(type);
  }

  /** Running in this process: all of them, or of one type. */
  runningCount(type?: string): number {
    return type === undefined ? this.running.size : (this.perType.get(type) ?? 0);
  }

  /** Resolves when every attempt running now has finished. */
  async whenSettled(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  leaseUntil(now: Date): Date {
    return new Date(now.getTime() + this.settings.leaseMs);
  }

  subscribe(listener: JobEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(
      () => void this.renewLeases(),
      Math.max(10, Math.floor(this.settings.leaseMs / 3)),
    );
    this.heartbeat.unref();
  }

  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Runs one claimed attempt (the row is `running`, its `attempts` already counts this one). */
  run(row: JobRow): Promise<ExecutionOutcome> {
    const done = this.execute(row).finally(() => {
      this.running.delete(row.id);
      this.perType.set(row.type, (this.perType.get(row.type) ?? 1) - 1);
    });
    this.running.set(row.id, { type: row.type, done });
    this.perType.set(row.type, (this.perType.get(row.type) ?? 0) + 1);
    return done;
  }

  private async execute(row: JobRow): Promise<ExecutionOutcome> {
    const registration = this.types.get(row.type);
    const attempt = Number(row.attempts);
    const ctx: JobContext = { jobId: row.id, attempt, maxAttempts: Number(row.max_attempts) };
    const started = Date.now();
    const log = { jobId: row.id, jobType: row.type, attempt, maxAttempts: ctx.maxAttempts };
    if (!registration) {
      // Drivers only claim registered types; this would be a bug, so leave the row to its lease.
      this.logger.error(log, 'job claimed without a registered handler');
      return { kind: 'lost' };
    }

    let payload: unknown;
    let failure: unknown;
    try {
      payload = JSON.parse(row.payload);
    } catch (err) {
      failure = new PermanentJobError(
        `the payload is not valid JSON: ${err instanceof Error ? err.message : 'parse error'}`,
      );
    }
    // A process died after the last allowed attempt had already started: give up without running it again.
    if (failure === undefined && attempt > ctx.maxAttempts)
      failure = new PermanentJobError('attempts exhausted');

    if (failure === undefined) {
      this.emit({ kind: 'started', jobId: row.id, type: row.type, attempt });
      try {
        await registration.options.handler(payload, ctx);
      } catch (err) {
        failure = err ?? new Error('handler rejected without a reason');
      }
    }
    const durationMs = Date.now() - started;
    const now = this.clock.now();

    if (failure === undefined) {
      if (!(await this.record(log, () => this.repo.complete(row.id, attempt, now))))
        return { kind: 'lost' };
      this.logger.log({ ...log, outcome: 'done', durationMs }, 'job attempt done');
      this.emit({ kind: 'done', jobId: row.id, type: row.type, attempt, durationMs });
      return { kind: 'done' };
    }

    const error = describeJobError(failure);
    if (failure instanceof PermanentJobError || attempt >= ctx.maxAttempts) {
      // onDead before the row is dead: if we die in between, the lease expires and the
      // next claim comes straight here again — onDead runs at least once, normally once.
      if (registration.options.onDead) {
        try {
          await registration.options.onDead(payload, { ...ctx, error });
        } catch (err) {
          // Not dead yet: what onDead keeps in step (a batch's events, say) would stay behind
          // for good. The row keeps its lease; when it runs out, the next claim finds the
          // attempts spent and comes here again.
          this.logger.error(
            { ...log, err: errorForLog(err) },
            'onDead handler failed; the job is given up again when its lease runs out',
          );
          return { kind: 'lost' };
        }
      }
      if (!(await this.record(log, () => this.repo.markDead(row.id, attempt, error, now))))
        return { kind: 'lost' };
      this.logger.warn(
        { ...log, outcome: 'dead', durationMs, err: errorForLog(failure) },
        'job attempt failed; job is dead',
      );
      this.emit({ kind: 'dead', jobId: row.id, type: row.type, attempt, durationMs, error });
      return { kind: 'dead' };
    }

    const delayMs =
      failure instanceof RetryableJobError &&
      failure.retryAfterMs !== undefined &&
      Number.isFinite(failure.retryAfterMs)
        ? Math.max(0, Math.ceil(failure.retryAfterMs))
        : fullJitterBackoffMs(attempt, this.settings.backoffBaseMs, this.random.next());
    const runAt = new Date(now.getTime() + delayMs);
    if (
      !(await this.record(log, () => this.repo.scheduleRetry(row.id, attempt, runAt, error, now)))
    )
      return { kind: 'lost' };
    const runAtIso = runAt.toISOString();
    this.logger.warn(
      { ...log, outcome: 'retry', durationMs, delayMs, runAt: runAtIso, err: errorForLog(failure) },
      'job attempt failed; will retry',
    );
    this.emit({
      kind: 'retrying',
      jobId: row.id,
      type: row.type,
      attempt,
      durationMs,
      error,
      runAt: runAtIso,
      delayMs,
    });
    return {
      kind: 'retry',
      row: { id: row.id, type: row.type, attempts: attempt, run_at: runAtIso },
    };
  }

  /** Writes an outcome; false when the lease was lost (another runner re-ran the job) or the database failed. */
  private async record(
    log: Record<string, unknown>,
    write: () => Promise<boolean>,
  ): Promise<boolean> {
    try {
      if (await write()) return true;
      this.logger.warn(log, 'job lease lost: another runner took the job over; outcome dropped');
    } catch (err) {
      // The row stays `running`; its lease expires and the job runs again.
      this.logger.error({ ...log, err: errorForLog(err) }, 'could not record the job outcome');
    }
    return false;
  }

  private async renewLeases(): Promise<void> {
    if (this.running.size === 0) return;
    try {
      await this.repo.extendLeases([...this.running.keys()], this.leaseUntil(this.clock.now()));
    } catch (err) {
      this.logger.warn({ err: errorForLog(err) }, 'could not renew job leases');
    }
  }

  private emit(event: JobEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err: errorForLog(err) }, 'job event listener failed');
      }
    }
  }
}
