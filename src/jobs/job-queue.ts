import type { Transaction } from 'kysely';
import type { DatabaseSchema } from '../database/database.types';

/**
 * The background-job port (DESIGN.md "jobs"). Two drivers implement it with
 * the same observable behaviour: `local` (rows in the database, run by an
 * in-process runner) and `bullmq` (Redis). Modules depend on this abstract
 * class only; the driver is chosen from config (`REDIS_URL`).
 */

export type JobStatus = 'queued' | 'running' | 'failed' | 'dead' | 'done';
/** `failed`: the last attempt failed and another is scheduled at `runAt`; `dead`: given up. */
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'failed', 'dead', 'done'];

/** A job as `GET /jobs` shows it (CONTRACT "Operations"). */
export interface JobView {
  id: string;
  type: string;
  status: JobStatus;
  attempts: number;
  lastError: string | null;
  runAt: string;
  createdAt: string;
}

export interface EnqueueOptions {
  /** Enqueue inside this transaction: the job exists iff the caller's rows commit. */
  trx?: Transaction<DatabaseSchema>;
  /** Do not run before this time. */
  runAt?: Date;
  /** Overrides `JOB_MAX_ATTEMPTS` for this job. */
  maxAttempts?: number;
}

export interface JobContext {
  jobId: string;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
}

/** What a handler does; throw {@link RetryableJobError} or any error to retry, {@link PermanentJobError} to stop. */
export type JobHandler<P = unknown> = (payload: P, ctx: JobContext) => Promise<void>;

/** Retry this job; at the time named when the provider said so (`Retry-After`). */
export class RetryableJobError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RetryableJobError';
  }
}

/** Do not retry: the job is dead at once (the handler has recorded the outcome). */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/**
 * Called once when a job is dead (attempts exhausted or a permanent error),
 * so the owning module can record the final outcome (e.g. a message `failed`).
 */
export type DeadJobHandler<P = unknown> = (
  payload: P,
  ctx: JobContext & { error: string },
) => Promise<void>;

export interface JobTypeOptions<P> {
  handler: JobHandler<P>;
  onDead?: DeadJobHandler<P>;
  /** Max jobs of this type running at once in this process (default 4). */
  concurrency?: number;
}

/** What happened to a job, as the drivers report it to {@link JobEventListener}s (logs, tests, metrics). */
export type JobEvent =
  | { kind: 'started'; jobId: string; type: string; attempt: number }
  | { kind: 'done'; jobId: string; type: string; attempt: number; durationMs: number }
  | {
      kind: 'retrying';
      jobId: string;
      type: string;
      attempt: number;
      durationMs: number;
      error: string;
      runAt: string;
      delayMs: number;
    }
  | {
      kind: 'dead';
      jobId: string;
      type: string;
      attempt: number;
      durationMs: number;
      error: string;
    };

export type JobEventListener = (event: JobEvent) => void;

export abstract class JobQueue {
  /** Registers the handler of a job type; call from a module's `onModuleInit`. */
  abstract register<P>(type: string, options: JobTypeOptions<P>): void;

  /** Stores a job; returns its id (`job_…`). */
  abstract enqueue<P>(type: string, payload: P, options?: EnqueueOptions): Promise<string>;

  /**
   * Stores one job of `type` per payload, in as few statements as the database
   * allows; returns their ids in the order of `payloads`. Same options as
   * {@link enqueue}, for every job.
   */
  abstract enqueueMany<P>(
    type: string,
    payloads: readonly P[],
    options?: EnqueueOptions,
  ): Promise<string[]>;

  /** Newest first; `cursor` is opaque. */
  abstract list(filter: {
    status?: JobStatus;
    limit: number;
    cursor?: string;
  }): Promise<{ data: JobView[]; nextCursor: string | null }>;

  abstract get(id: string): Promise<JobView | undefined>;

  /** Queues a dead job again with its attempts reset; undefined when no such dead job. */
  abstract retry(id: string): Promise<JobView | undefined>;

  /** Resolves when no job is running or due now (tests await this instead of sleeping). */
  abstract whenIdle(): Promise<void>;

  /** For `/health/ready`: throws when the queue cannot take jobs. */
  abstract ping(): Promise<void>;
}
