import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { InjectDb } from '../database/database.module';
import type { Transaction } from 'kysely';
import type { DatabaseSchema, Db } from '../database/database.types';
import { describeJobError } from '../jobs/job-executor';
import { JobContext, JobQueue } from '../jobs/job-queue';
import { newWebhookEventId } from './webhook-event-id';
import type { WebhookEventContext } from './webhook-handler.decorator';
import { WebhookHandlerRegistry } from './webhook-handler.registry';
import { WebhookEventRow, WebhookEventsRepository } from './webhook-events.repository';
import { inTransaction } from '../database/transaction';

/** The job that processes one stored event. */
export const WEBHOOK_PROCESS_JOB = 'webhook.process';

export interface WebhookProcessJobPayload {
  eventRowId: string;
  /** Set by a replay: process even if the event reads `processed` by then. */
  replay?: boolean;
}

/** One verified event as a provider's webhook controller hands it over. */
export interface IncomingWebhookEvent {
  /** The provider's id of the event: the dedupe key within the provider. */
  eventId: string;
  type: string;
  /** Stored as JSON and handed to the handlers parsed. */
  payload: unknown;
}

export interface StoreResult {
  /** New events, each with a `webhook.process` job. */
  stored: number;
  /** Events already stored under (provider, eventId), including repeats within the batch. */
  duplicates: number;
}

/** The most `store` calls written in one transaction. */
const MAX_GROUP = 64;

interface WaitingStore {
  provider: string;
  events: readonly IncomingWebhookEvent[];
  resolve(result: StoreResult): void;
  reject(err: unknown): void;
}

function resultOf(call: WaitingStore, stored: number): StoreResult {
  return { stored, duplicates: call.events.length - stored };
}

/**
 * The provider-independent webhook inbox: stores verified events once per
 * (provider, event id) together with their processing job, then dispatches
 * them to the {@link WebhookHandler}s of their type in the background.
 */
@Injectable()
export class WebhookInbox implements OnModuleInit {
  private readonly logger = new Logger(WebhookInbox.name);
  /** Calls of {@link store} waiting for the next transaction. */
  private readonly waiting: WaitingStore[] = [];
  private writing = false;

  constructor(
    @InjectDb() private readonly db: Db,
    private readonly repo: WebhookEventsRepository,
    private readonly registry: WebhookHandlerRegistry,
    private readonly jobs: JobQueue,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.jobs.register<WebhookProcessJobPayload>(WEBHOOK_PROCESS_JOB, {
      handler: (payload, ctx) => this.process(payload, ctx),
      onDead: (payload, ctx) => this.onDead(payload.eventRowId, ctx.error),
    });
  }

  /**
   * Stores verified events and their processing jobs in one transaction, so
   * when this resolves each event is durable and will be processed; answer
   * the provider only after it. Repeats are skipped, not errors.
   *
   * Group commit: calls that arrive while a transaction is being written wait
   * and are written together in the next one (at most {@link MAX_GROUP}
   * calls), each resolved only once that transaction has committed. If a
   * group's transaction fails, its calls are written one by one so that one
   * bad call cannot fail the others.
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
    return new Promise<StoreResult>((resolve, reject) => {
      this.waiting.push({ provider, events, resolve, reject });
      if (!this.writing) void this.writeWaiting();
    });
  }

  /** Writes the waiting calls, a group per transaction, until none is left; never rejects. */
  private async writeWaiting(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, MAX_GROUP);
        try {
          const counts = await inTransaction(this.db, async (trx) => {
            const out: number[] = [];
            for (const call of group) out.push(await this.insertEvents(trx, call));
            return out;
          });
          group.forEach((call, i) => call.resolve(resultOf(call, counts[i])));
        } catch (err) {
          if (group.length === 1) group[0].reject(err);
          else for (const call of group) await this.writeAlone(call);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeAlone(call: WaitingStore): Promise<void> {
    try {
      const count = await inTransaction(this.db, (trx) => this.insertEvents(trx, call));
      call.resolve(resultOf(call, count));
    } catch (err) {
      call.reject(err);
    }
  }

  /** Inserts one call's new events, each with its processing job; how many were new. */
  private async insertEvents(
    trx: Transaction<DatabaseSchema>,
    call: WaitingStore,
  ): Promise<number> {
    const now = this.clock.now();
    const receivedAt = now.toISOString();
    let count = 0;
    for (const event of call.events) {
      const id = newWebhookEventId(now);
      const inserted = await this.repo.insertIfNew(trx, {
        id,
        provider: call.provider,
        event_id: event.eventId,
        type: event.type,
        payload: JSON.stringify(event.payload ?? null),
        status: 'received',
        attempts: 0,
        last_error: null,
        received_at: receivedAt,
        processed_at: null,
      });
      if (!inserted) continue;
      await this.jobs.enqueue<WebhookProcessJobPayload>(
        WEBHOOK_PROCESS_JOB,
        { eventRowId: id },
        { trx },
      );
      count += 1;
    }
    return count;
  }

  /** Processes a stored event again (status back to `received`); undefined when unknown. */
  replay(id: string): Promise<WebhookEventRow | undefined> {
    return inTransaction(this.db, async (trx) => {
      const row = await this.repo.resetForReplay(trx, id);
      if (!row) return undefined;
      await this.jobs.enqueue<WebhookProcessJobPayload>(
        WEBHOOK_PROCESS_JOB,
        { eventRowId: id, replay: true },
        { trx },
      );
      return row;
    });
  }

  private async process(job: WebhookProcessJobPayload, ctx: JobContext): Promise<void> {
    const row = await this.repo.findById(job.eventRowId);
    if (!row) return; // deleted by retention since: nothing left to do
    // Processed already: this job ran again after succeeding (a lost lease). A replay
    // always runs, even when an earlier run, begun before it was asked for, ended first.
    if (row.status === 'processed' && !job.replay) return;

    const context: WebhookEventContext = {
      eventRowId: row.id,
      provider: row.provider,
      eventId: row.event_id,
      type: row.type,
      receivedAt: new Date(row.received_at),
      attempt: ctx.attempt,
    };
    const log = {
      webhookEventId: row.id,
      provider: row.provider,
      type: row.type,
      attempt: ctx.attempt,
      jobId: ctx.jobId,
    };
    const handlers = this.registry.handlersFor(row.provider, row.type);
    let current: string | undefined;
    try {
      const payload = JSON.parse(row.payload) as unknown;
      for (const handler of handlers) {
        current = handler.name;
        await handler.handle(payload, context);
      }
    } catch (err) {
      // The same safe text the job's own last_error gets.
      await this.repo.markFailed(row.id, describeJobError(err));
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

  private async onDead(eventRowId: string, error: string): Promise<void> {
    await this.repo.markDead(eventRowId, error);
    this.logger.error(
      { webhookEventId: eventRowId },
      'webhook event is dead: its processing was given up',
    );
  }
}
