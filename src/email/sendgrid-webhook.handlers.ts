import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { WebhookEventContext, WebhookHandler } from '../webhooks/webhook-handler.decorator';
import { EMAIL_ID_CUSTOM_ARG, EMAIL_ID_PATTERN } from './email-id';
import { statusForEvent } from './email-status';
import { EmailsRepository, type EventOutcome, type RecordedEvent } from './emails.repository';

export const SENDGRID_PROVIDER = 'sendgrid';
const MAX_REASON_LENGTH = 500;

/** One Event Webhook event, as much of it as we read. */
interface SendgridEvent {
  event: string;
  email?: unknown;
  timestamp?: unknown;
  sg_message_id?: unknown;
  reason?: unknown;
  response?: unknown;
  [field: string]: unknown;
}

/**
 * The `X-Message-Id`s an event may be about: `sg_message_id` is the message id
 * SendGrid answered with, then a dot and its own suffix (`.filter0001…`,
 * `.recvd-…`). The id itself can hold dots (older ids look like
 * `14c5d75ce93.dfd.64b469`), so every prefix that ends before a dot is a
 * candidate, longest first (at most 8).
 */
export function messageIdCandidates(sgMessageId: unknown): string[] {
  if (typeof sgMessageId !== 'string') return [];
  const candidates: string[] = [];
  for (let dot = sgMessageId.indexOf('.'); dot > 0; dot = sgMessageId.indexOf('.', dot + 1))
    candidates.push(sgMessageId.slice(0, dot));
  return candidates.reverse().slice(0, 8);
}

function reasonOf(event: SendgridEvent): string | null {
  // A deferral's explanation is the receiving server's `response`; bounces and drops have a `reason`.
  const value = event.event === 'deferred' ? (event.response ?? event.reason) : event.reason;
  if (typeof value !== 'string' || value === '') return null;
  return value.length > MAX_REASON_LENGTH ? `${value.slice(0, MAX_REASON_LENGTH - 1)}…` : value;
}

function occurredAt(event: SendgridEvent, fallback: Date): string {
  const seconds = event.timestamp;
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0) {
    const at = new Date(Math.floor(seconds) * 1000);
    if (!Number.isNaN(at.getTime())) return at.toISOString();
  }
  return fallback.toISOString();
}

/**
 * Applies stored SendGrid events to emails: delivery events move the
 * recipient they name forward (never back: SendGrid redelivers for 24 h, out
 * of order), engagement events are recorded only. Event types not bound here
 * are stored by the inbox and change nothing.
 */
@Injectable()
export class SendgridWebhookHandlers {
  private readonly logger = new Logger(SendgridWebhookHandlers.name);

  constructor(
    private readonly repo: EmailsRepository,
    private readonly clock: Clock,
  ) {}

  @WebhookHandler(SENDGRID_PROVIDER, 'processed')
  @WebhookHandler(SENDGRID_PROVIDER, 'deferred')
  @WebhookHandler(SENDGRID_PROVIDER, 'delivered')
  @WebhookHandler(SENDGRID_PROVIDER, 'bounce')
  @WebhookHandler(SENDGRID_PROVIDER, 'dropped')
  @WebhookHandler(SENDGRID_PROVIDER, 'open')
  @WebhookHandler(SENDGRID_PROVIDER, 'click')
  @WebhookHandler(SENDGRID_PROVIDER, 'spamreport')
  @WebhookHandler(SENDGRID_PROVIDER, 'unsubscribe')
  @WebhookHandler(SENDGRID_PROVIDER, 'group_unsubscribe')
  @WebhookHandler(SENDGRID_PROVIDER, 'group_resubscribe')
  async handle(payload: unknown, context: WebhookEventContext): Promise<void> {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return;
    const event = payload as SendgridEvent;
    const recorded: RecordedEvent = {
      key: context.eventId,
      type: context.type,
      recipient: typeof event.email === 'string' && event.email !== '' ? event.email : null,
      reason: reasonOf(event),
      occurredAt: occurredAt(event, context.receivedAt),
      arrival: context.eventRowId,
      status: statusForEvent(context.type),
    };
    const now = this.clock.now();

    const byArg = event[EMAIL_ID_CUSTOM_ARG];
    const argId = typeof byArg === 'string' && EMAIL_ID_PATTERN.test(byArg) ? byArg : undefined;
    let outcome: EventOutcome = argId
      ? await this.repo.applyEvent(argId, recorded, now)
      : 'unknown_email';
    if (outcome === 'unknown_email') {
      // Events without our custom arg (or naming an email we do not have) match by X-Message-Id.
      const id = await this.repo.findIdByProviderMessageId(
        messageIdCandidates(event.sg_message_id),
      );
      if (id && id !== argId) outcome = await this.repo.applyEvent(id, recorded, now);
    }
    if (outcome === 'unknown_email') {
      // Mail sent by something else on the same SendGrid account: acknowledged, nothing to update.
      this.logger.debug(
        { webhookEventId: context.eventRowId, type: context.type },
        'SendGrid event for no known email',
      );
    }
  }
}
