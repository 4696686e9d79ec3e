import { DynamicModule, Module } from '@nestjs/common';

/** Tuning of the job drivers; not part of the external contract, so not environment variables. */
export interface JobQueueOptions {
  /** Redis key prefix of the BullMQ queues. */
  bullmqPrefix: string;
  /** How often the local runner looks for jobs made due by time or by another instance. */
  pollIntervalMs: number;
  /** How long a claimed job is ours; renewed while it runs, so only a dead process loses it. */
  leaseMs: number;
  /** How long shutdown waits for running handlers before closing anyway (their lease then expires). */
  shutdownTimeoutMs: number;
  /** BullMQ: how often rows that never reached Redis (a crash after commit) or lost their lease are relayed. */
  sweepIntervalMs: number;
  /** BullMQ: how late a due row must be before the sweeper relays it again (it is normally relayed at once). */
  sweepGraceMs: number;
  /** `done` jobs older than this are deleted (dead ones are kept for operators). */
  doneRetentionMs: number;
}

export const DEFAULT_JOB_QUEUE_OPTIONS: JobQueueOptions = {
  bullmqPrefix: 'switchboard',
  pollIntervalMs: 1000,
  leaseMs: 60_000,
  shutdownTimeoutMs: 10_000,
  sweepIntervalMs: 5000,
  sweepGraceMs: 30_000,
  doneRetentionMs: 7 * 24 * 60 * 60 * 1000,
};

export const JOB_QUEUE_OPTIONS = Symbol('JOB_QUEUE_OPTIONS');

/** Overrides {@link DEFAULT_JOB_QUEUE_OPTIONS} for the whole application (tests: a unique BullMQ prefix, short shutdown). */
@Module({})
export class JobQueueOptionsModule {
  static forRoot(options: Partial<JobQueueOptions>): DynamicModule {
    return {
      module: JobQueueOptionsModule,
      global: true,
      providers: [{ provide: JOB_QUEUE_OPTIONS, useValue: options }],
      exports: [JOB_QUEUE_OPTIONS],
    };
  }
}
