import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppError } from '../common/errors/app-error';
import { cursorParam, Page, pageOf } from '../common/http/pagination';
import { maskPhone, maskString } from '../common/logging/mask';
import { JobContext, JobQueue, RetryableJobError } from '../jobs/job-queue';
import type { WebhookEventContext } from '../webhooks/webhook-handler.decorator';
import type { CreateSmsDto } from './dto/create-sms.dto';
import type { SmsMessageDto } from './dto/sms-message.dto';
import { newSmsId, SMS_ID_PATTERN } from './sms-id';
import { SmsEventRow, SmsMessageRow, SmsRepository } from './sms.repository';
import { forward, fromTwilioStatus, isFinal, rankOf, SmsStatus } from './sms-status';
import { SentSms, TwilioClient } from './twilio.client';
import { safeTwilioMessage, TwilioError } from './twilio-error';
import { OUR_MESSAGE_ID_KEY, paramOf, TwilioParams } from './twilio-form';
import { WriteBatcher } from '../database/write-batcher';

/** The background job that hands one message to Twilio. */
export const SMS_SEND_JOB = 'sms.send';

export interface SmsSendJobPayload {
  messageId: string;
}

/** Enough to keep Twilio busy without one slow send holding the others back; the rate limiter paces them. */
const SEND_CONCURRENCY = 32;

const PROVIDER_UNAVAILABLE_MESSAGE = 'Twilio could not be reached; every attempt failed';

/** A status callback for a message we have not stored the SID of yet: retried by the inbox. */
export class UnknownMessageError extends Error {
  override readonly name = 'UnknownMessageError';
}

function toDto(row: SmsMessageRow, events: SmsEventRow[]): SmsMessageDto {
  return {
    id: row.id,
    to: row.to_number,
    from: row.from_number,
    body: row.body,
    status: row.status,
    providerId: row.provider_id,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    attempts: Number(row.attempts),
    events: events.map((e) => ({ status: e.status, at: e.at })),
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * SMS use cases: accept (store + job in one transaction), send in the
 * background, and apply Twilio's status callbacks and inbound messages.
 */
/**
 * How long the send job waits before sending again when it cannot know
 * whether Twilio created the message (no answer, or our record of the answer
 * failed): Twilio has no idempotency key, and its status callback names our
 * message, so within this time it normally binds the SID and the retry does
 * nothing.
 */
export const UNKNOWN_OUTCOME_RETRY_MS = 60_000;

@Injectable()
export class SmsService implements OnModuleInit {
  private readonly logger = new Logger(SmsService.name);

  /**
   * Each message with its send job, in one transaction; messages accepted
   * together share it (group commit), each answered once it has committed.
   */
  private readonly accepts = new WriteBatcher<SmsMessageRow, void>((rows) =>
    this.repo.transaction(async (trx) => {
      // Two statements for the whole batch: on PostgreSQL each statement is a round trip.
      await this.repo.insertMany(trx, rows);
      await this.jobs.enqueueMany<SmsSendJobPayload>(
        SMS_SEND_JOB,
        rows.map((row) => ({ messageId: row.id })),
        { trx },
      );
      return rows.map(() => undefined);
    }),
  );

  constructor(
    private readonly repo: SmsRepository,
    private readonly twilio: TwilioClient,
    private readonly jobs: JobQueue,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.jobs.register<SmsSendJobPayload>(SMS_SEND_JOB, {
      handler: (payload, ctx) => this.send(payload.messageId, ctx),
      onDead: (payload, ctx) => this.giveUp(payload.messageId, ctx.error),
      concurrency: SEND_CONCURRENCY,
    });
  }

  /** Stores the message and its send job together: once this resolves, the message will be sent or fail with a reason. */
  async create(dto: CreateSmsDto): Promise<SmsMessageDto> {
    const now = this.clock.now();
    const iso = now.toISOString();
    const row: SmsMessageRow = {
      id: newSmsId(now),
      to_number: dto.to,
      from_number: dto.from ?? this.twilio.defaultFrom,
      body: dto.body,
      status: 'queued',
      provider_id: null,
      error_code: null,
      error_message: null,
      provider_error: null,
      attempts: 0,
      metadata: JSON.stringify(dto.metadata ?? {}),
      created_at: iso,
      updated_at: iso,
    };
    await this.accepts.add(row);
    this.logger.log({ messageId: row.id, to: maskPhone(row.to_number) }, 'sms queued');
    return toDto(row, []);
  }

  async get(id: string): Promise<SmsMessageDto> {
    const row = SMS_ID_PATTERN.test(id) ? await this.repo.findById(id) : undefined;
    if (!row) throw AppError.notFound('message');
    return toDto(row, await this.repo.eventsOf([row.id]));
  }

  async list(query: {
    status?: SmsStatus;
    limit: number;
    cursor?: string;
  }): Promise<Page<SmsMessageDto>> {
    const after = cursorParam(query.cursor, SMS_ID_PATTERN);
    const rows = await this.repo.list({ status: query.status, limit: query.limit, after });
    const events = await this.repo.eventsOf(rows.slice(0, query.limit).map((r) => r.id));
    const byMessage = new Map<string, SmsEventRow[]>();
    for (const e of events) {
      const list = byMessage.get(e.message_id);
      if (list) list.push(e);
      else byMessage.set(e.message_id, [e]);
    }
    return pageOf(rows, query.limit, (page) =>
      page.map((r) => toDto(r, byMessage.get(r.id) ?? [])),
    );
  }

  /**
   * One attempt of the send job. Idempotent: a message that already has a
   * SID (a rerun after a crash between Twilio's answer and the job's end) is
   * not sent again. A Twilio 4xx fails the message and ends the job; anything
   * retryable is thrown so the queue retries it (at Twilio's `Retry-After`).
   */
  private async send(messageId: string, job: JobContext): Promise<void> {
    const row = await this.repo.findById(messageId);
    if (!row) {
      this.logger.error({ messageId, jobId: job.jobId }, 'send job for an unknown message');
      return;
    }
    if (row.provider_id !== null || isFinal(row.status)) return;

    const log = { messageId, jobId: job.jobId, attempt: job.attempt, to: maskPhone(row.to_number) };
    let sent: SentSms;
    try {
      sent = await this.twilio.sendMessage(
        {
          messageId,
          to: row.to_number,
          body: row.body,
          from: row.from_number ?? undefined,
        },
        { beforeRequest: () => this.repo.countAttempt(messageId, this.clock.now()) },
      );
    } catch (err) {
      if (!(err instanceof TwilioError)) throw err;
      if (err.kind === 'unknown') {
        // Twilio may have the message: give its callback (which names our id) time to say so
        // before sending again; the next attempt does nothing once the SID is known.
        this.logger.warn(
          { ...log, retryAfterMs: UNKNOWN_OUTCOME_RETRY_MS },
          'twilio did not answer; the message may have been sent',
        );
        throw new RetryableJobError(`twilio: ${err.safeMessage}`, UNKNOWN_OUTCOME_RETRY_MS);
      }
      if (err.kind === 'permanent') {
        await this.repo.markFailedUnsent(
          messageId,
          {
            errorCode: err.errorCode,
            errorMessage: err.safeMessage,
            providerError: err.details.providerMessage ?? null,
          },
          this.clock.now(),
        );
        this.logger.warn({ ...log, errorCode: err.errorCode }, 'sms rejected by twilio; failed');
        return;
      }
      throw new RetryableJobError(`twilio: ${err.safeMessage}`, err.retryAfterMs);
    }
    // Handed over: at least `sent`, or what Twilio already said beyond it.
    const status = forward('sent', fromTwilioStatus(sent.status) ?? 'sent');
    const failedAtOnce = status === 'failed' || status === 'undelivered';
    try {
      await this.repo.markAccepted(
        messageId,
        {
          providerId: sent.sid,
          status,
          from: sent.from,
          errorCode: failedAtOnce && sent.errorCode !== null ? String(sent.errorCode) : null,
          errorMessage:
            failedAtOnce && sent.errorCode !== null ? safeTwilioMessage(sent.errorCode) : null,
        },
        this.clock.now(),
      );
    } catch (err) {
      // Twilio has it; only our record failed. Retrying at once would send it again: wait,
      // as for an unanswered request, for its callback to bind the SID first.
      this.logger.error(
        { ...log, providerId: sent.sid, err: err instanceof Error ? err.message : String(err) },
        'could not record the message Twilio accepted; its callback will',
      );
      throw new RetryableJobError(
        'could not record the message Twilio accepted',
        UNKNOWN_OUTCOME_RETRY_MS,
      );
    }
    this.logger.log({ ...log, providerId: sent.sid, status }, 'sms handed to twilio');
  }

  /** The send job is dead: every attempt failed to reach Twilio. */
  private async giveUp(messageId: string, error: string): Promise<void> {
    const failed = await this.repo.markFailedUnsent(
      messageId,
      {
        errorCode: 'provider_unavailable',
        errorMessage: PROVIDER_UNAVAILABLE_MESSAGE,
        providerError: error,
      },
      this.clock.now(),
    );
    if (failed)
      this.logger.warn({ messageId }, 'sms send given up; failed with provider_unavailable');
  }

  /**
   * A status callback: recorded in `events` once per stored webhook event,
   * and moves the message forward when Twilio's status maps to a higher rank.
   */
  async applyStatusCallback(params: TwilioParams, ctx: WebhookEventContext): Promise<void> {
    const sid = paramOf(params, 'MessageSid') ?? paramOf(params, 'SmsSid');
    const twilioStatus = paramOf(params, 'MessageStatus') ?? paramOf(params, 'SmsStatus');
    if (!sid || !twilioStatus) {
      this.logger.warn(
        { webhookEventId: ctx.eventRowId },
        'twilio status callback without MessageSid or MessageStatus; ignored',
      );
      return;
    }
    const errorCodeParam = paramOf(params, 'ErrorCode');
    const errorCode = errorCodeParam && errorCodeParam !== '' ? errorCodeParam : null;
    const from = paramOf(params, 'From') || null;
    const at = ctx.receivedAt.toISOString();
    const mapped = fromTwilioStatus(twilioStatus);

    const ourId = paramOf(params, OUR_MESSAGE_ID_KEY);
    const outcome = await this.repo.transaction(async (trx) => {
      // By SID; else by the id our callback URL named, when the create went unanswered.
      const message =
        (await this.repo.findByProviderId(sid, trx)) ??
        (ourId ? await this.repo.bindProviderId(trx, ourId, sid, this.clock.now()) : undefined);
      if (!message) return undefined;
      await this.repo.insertEvent(trx, {
        id: ctx.eventRowId,
        message_id: message.id,
        status: twilioStatus,
        error_code: errorCode,
        at,
      });
      // Status only moves forward: a read at or above the callback's rank cannot be stale the other way.
      const forwardMove = mapped !== undefined && rankOf(mapped) > rankOf(message.status);
      const failure = mapped === 'failed' || mapped === 'undelivered';
      const moved = forwardMove
        ? await this.repo.advance(trx, message.id, {
            status: mapped,
            error: failure
              ? {
                  code: errorCode,
                  message: errorCode
                    ? safeTwilioMessage(errorCode)
                    : `Twilio reported the message ${twilioStatus}`,
                }
              : undefined,
            from,
            at,
          })
        : false;
      if (!moved && from && message.from_number === null) {
        await this.repo.fillSender(trx, message.id, from);
      }
      return { messageId: message.id, before: message.status, moved };
    });
    if (!outcome) {
      // Twilio can call back before the send job has stored the SID; the inbox retries with backoff.
      throw new UnknownMessageError(`no message with Twilio SID ${sid} (yet)`);
    }
    const log = {
      messageId: outcome.messageId,
      providerId: sid,
      twilioStatus,
      previousStatus: outcome.before,
    };
    if (outcome.moved) this.logger.log({ ...log, status: mapped }, 'sms status advanced');
    else this.logger.debug(log, 'sms status callback recorded');
  }

  /** An SMS sent to one of our numbers: stored once per MessageSid. */
  async storeInbound(params: TwilioParams, ctx: WebhookEventContext): Promise<void> {
    const sid =
      paramOf(params, 'MessageSid') ??
      paramOf(params, 'SmsMessageSid') ??
      paramOf(params, 'SmsSid');
    const from = paramOf(params, 'From');
    const to = paramOf(params, 'To');
    if (!sid || !from || !to) {
      this.logger.warn(
        { webhookEventId: ctx.eventRowId },
        'twilio inbound message without MessageSid, From or To; ignored',
      );
      return;
    }
    const numMedia = Math.max(
      0,
      Math.min(10, Number.parseInt(paramOf(params, 'NumMedia') ?? '0', 10) || 0),
    );
    const media = Array.from({ length: numMedia }, (_, i) => ({
      url: paramOf(params, `MediaUrl${i}`) ?? null,
      contentType: paramOf(params, `MediaContentType${i}`) ?? null,
    }));
    const inserted = await this.repo.insertInbound({
      provider_id: storable(sid),
      from_number: storable(from),
      to_number: storable(to),
      body: storable(paramOf(params, 'Body') ?? ''),
      messaging_service_sid: nullableStorable(paramOf(params, 'MessagingServiceSid')),
      num_media: numMedia,
      media: JSON.stringify(media),
      webhook_event_id: ctx.eventRowId,
      received_at: ctx.receivedAt.toISOString(),
    });
    this.logger.log(
      { providerId: sid, from: maskPhone(from), to: maskString(to), duplicate: !inserted },
      'inbound sms stored',
    );
  }
}

/**
 * Text as every database can store it: PostgreSQL refuses U+0000 in text, so
 * an inbound SMS holding one could never be stored (its event would end
 * dead); it becomes U+FFFD, as an undecodable character would.
 */
function storable(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function nullableStorable(text: string | undefined): string | null {
  return text === undefined ? null : storable(text);
}
