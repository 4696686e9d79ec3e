import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { InjectDb } from '../database/database.module';
import type { Transaction } from 'kysely';
import type { DatabaseSchema, Db } from '../database/database.types';
import { describeJobError } from '../jobs/job-executor';
import { JobContext, JobQueue, PermanentJobError } from '../jobs/job-queue';
import { chunks } from '../database/chunks';
import { Semaphore } from '../common/concurrency/semaphore';
import { newWebhookEventId } from './webhook-event-id';
import type { WebhookEventContext } from './webhook-handler.decorator';
import { WebhookHandlerRegistry } from './webhook-handler.registry';
import { WebhookEventRow, WebhookEventsRepository } from './webhook-events.repository';
import { inTransaction } from '../database/transaction';
import { WriteBatcher } from '../database/write-batcher';

/** The job that processes stored events: those stored together, or one being replayed. */
export const WEBHOOK_PROCESS_JOB = 'webhook.process';

export interface WebhookProcessJobPayload {
  /** Our row ids of the events, in the order they arrived. */
  eventRowIds?: string[];
  /** One event: the payload of jobs queued before events were queued together. */
  eventRowId?: string;
  /** Set by a replay: process even if the event reads `processed` by then. */
  replay?: boolean;
}

/**
 * Events per `webhook.process` job. Events stored in one commit share a job
 * (one job row per batch, not per event: a burst of webhooks costs the store
 * and the queue a fraction of the writes), and a job is kept small enough
 * that the instances of a deployment still share out a large batch.
 */
export const EVENTS_PER_PROCESS_JOB = 32;

/** One verified event as a provider's webhook controller hands it over. */
export interface IncomingWebhookEvent {
  /** The provider's id of the event: the dedupe key within the provider. */
  eventId: string;
  type: string;
  /** Stored as JSON and handed to the handlers parsed. */
  payload: unknown;
}

export interface StoreResult {
  /** New events, each to be processed by a `webhook.process` job. */
  stored: number;
  /** Events already stored under (provider, eventId), including repeats within the batch. */
  duplicates: number;
}

/**
 * Events processed at once per instance, across all `webhook.process` jobs
 * (and the most jobs of that type running at once). Handlers mostly read and
 * write our own tables (a provider is called only to re-read an object when
 * in doubt), and a wider window lets a backlog be claimed, completed and
 * marked in batches, a commit per batch.
 */
const PROCESS_CONCURRENCY = 16;

/** One call of {@link WebhookInbox.store}, as the group commit writes it. */
interface StoreCall {
  provider: string;
  events: readonly IncomingWebhookEvent[];
}

/**
 * The provider-independent webhook inbox: stores verified events once per
 * (provider, event id) together with their processing job, then dispatches
 * them to the {@link WebhookHandler}s of their type in the background.
 */
@Injectable()
export class WebhookInbox implements OnModuleInit {
  private readonly logger = new Logger(WebhookInbox.name);
  /** Shared by every job, so a job of many events and many jobs of one get the same bound. */
  private readonly processing = new Semaphore(PROCESS_CONCURRENCY);
  /** Calls that arrive together are written in one transaction (at most 64). */
  private readonly writes = new WriteBatcher<StoreCall, number>((calls) =>
    inTransaction(this.db, (trx) => this.insertEvents(trx, calls)),
  );

  constructor(
    @InjectDb() private readonly db: Db,
    private readonly repo: WebhookEventsRepository,
    private readonly registry: WebhookHandlerRegistry,
    private readonly jobs: JobQueue,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.jobs.register<WebhookProcessJobPayload>(WEBHOOK_PROCESS_JOB, {
      concurrency: PROCESS_CONCURRENCY,
      handler: (payload, ctx) => this.process(payload, ctx),
      onDead: (payload, ctx) => this.onDead(eventRowIdsOf(payload), ctx.error),
    });
  }

  /**
   * Stores verified events and their processing jobs in one transaction, so
   * when this resolves each event is durable and will be processed; answer
   * the provider only after it. Repeats are skipped, not errors.
   *
   * Calls that arrive together are written in one transaction (see
   * {@link WriteBatcher}), each resolved only once it has committed.
   */
  async store(provider: string, events: readonly IncomingWebhookEvent[]): Promise<StoreResult> {
    if (!provider) throw new Error('store needs a provider');
    for (const e of events) {
      if (typeof e.eventId !== 'string' || e.eventId === '')
        throw new Error(`${provider} webhook event without an id`);
      if (typeof e.type !== 'string' || e.type === '')
        throw new Error(`${provider} webhook event without a type`);
    }
    if (events.length === 0) return { stored: 0, duplicates: 0 };
    const stored = await this.writes.add({ provider, events });
    return { stored, duplicates: events.length - stored };
  }

  /**
   * Inserts the calls' new events in one statement, then their processing
   * jobs in another, a job per {@link EVENTS_PER_PROCESS_JOB} new events in
   * arrival order; how many of each call's events were new.
   */
  private async insertEvents(
    trx: Transaction<DatabaseSchema>,
    calls: readonly StoreCall[],
  ): Promise<number[]> {
    const now = this.clock.now();
    const receivedAt = now.toISOString();
    const rows = calls.map((call) =>
      call.events.map((event): WebhookEventRow => ({
        id: newWebhookEventId(now),
        provider: call.provider,
        event_id: event.eventId,
        type: event.type,
        payload: JSON.stringify(event.payload ?? null),
        status: 'received',
        attempts: 0,
        last_error: null,
        received_at: receivedAt,
        processed_at: null,
      })),
    );
    const inserted = await this.repo.insertManyIfNew(trx, rows.flat());
    const newIds: string[] = [];
    const counts = rows.map((callRows) => {
      let count = 0;
      for (const row of callRows)
        if (inserted.has(row.id)) {
          newIds.push(row.id);
          count += 1;
        }
      return count;
    });
    const jobs = [...chunks(newIds, EVENTS_PER_PROCESS_JOB)].map(
      (eventRowIds): WebhookProcessJobPayload => ({ eventRowIds }),
    );
    await this.jobs.enqueueMany(WEBHOOK_PROCESS_JOB, jobs, { trx });
    return counts;
  }

  /** Processes a stored event again (status back to `received`); undefined when unknown. */
  replay(id: string): Promise<WebhookEventRow | undefined> {
    return inTransaction(this.db, async (trx) => {
      const row = await this.repo.resetForReplay(trx, id);
      if (!row) return undefined;
      await this.jobs.enqueue<WebhookProcessJobPayload>(
        WEBHOOK_PROCESS_JOB,
        { eventRowIds: [id], replay: true },
        { trx },
      );
      return row;
    });
  }

  /**
   * Processes the job's events side by side, started in arrival order, within
   * the instance's bound of {@link PROCESS_CONCURRENCY} events at once (their
   * handlers' writes then share commits). An event that fails is marked
   * `failed` and the others still run; the job then fails with the first
   * error, so its retry runs again only the events not `processed` yet, and
   * when the job is dead so are they.
   */
  private async process(job: WebhookProcessJobPayload, ctx: JobContext): Promise<void> {
    const ids = eventRowIdsOf(job);
    const rows = await this.repo.findByIds(ids);
    const pending: WebhookEventRow[] = [];
    for (const id of ids) {
      const row = rows.get(id);
      if (!row) continue; // deleted by retention since: nothing left to do
      // Processed already: by an earlier attempt of this job, or this job ran again after
      // succeeding (a lost lease). A replay always runs, even when an earlier run, begun
      // before it was asked for, ended first.
      if (row.status === 'processed' && !job.replay) continue;
      pending.push(row);
    }
    const outcomes = await Promise.allSettled(
      pending.map((row) => this.processing.run(() => this.processEvent(row, ctx))),
    );
    const failures = outcomes.flatMap((o) =>
      o.status === 'rejected' ? [o.reason as unknown] : [],
    );
    if (failures.length === 0) return;
    // Retried unless every failure asked to stop.
    throw failures.find((err) => !(err instanceof PermanentJobError)) ?? failures[0];
  }

  private async processEvent(row: WebhookEventRow, ctx: JobContext): Promise<void> {
    const context: WebhookEventContext = {
      eventRowId: row.id,
      provider: row.provider,
      eventId: row.event_id,
      type: row.type,
      receivedAt: new Date(row.received_at),
      attempt: Number(row.attempts) + 1,
    };
    const log = {
      webhookEventId: row.id,
      provider: row.provider,
      type: row.type,
      attempt: context.attempt,
      jobId: ctx.jobId,
    };
    const handlers = this.registry.handlersFor(row.provider, row.type);
    const startedAt = this.clock.now();
    let current: string | undefined;
    try {
      const payload = JSON.parse(row.payload) as unknown;
      for (const handler of handlers) {
        current = handler.name;
        await handler.handle(payload, context);
      }
    } catch (err) {
      // The same safe text the job's own last_error gets.
      await this.repo.markFailed(row.id, describeJobError(err), startedAt);
      this.logger.warn(
        {
          ...log,
          handler: current,
          err: err instanceof Error ? { type: err.name, message: err.message } : String(err),
        },
        'webhook event processing failed',
      );
      throw err;
    }
    await this.repo.markProcessed(row.id, this.clock.now());
    this.logger.log({ ...log, handlers: handlers.length }, 'webhook event processed');
  }

  /** The job is dead: so is each of its events not processed by then. */
  private async onDead(eventRowIds: readonly string[], error: string): Promise<void> {
    for (const id of await this.repo.markDead(eventRowIds, error))
      this.logger.error(
        { webhookEventId: id },
        'webhook event is dead: its processing was given up',
      );
  }
}

/** The events a `webhook.process` job names, whichever version queued it. */
function eventRowIdsOf(job: WebhookProcessJobPayload): string[] {
  if (Array.isArray(job.eventRowIds)) return job.eventRowIds;
  return typeof job.eventRowId === 'string' ? [job.eventRowId] : [];
}
