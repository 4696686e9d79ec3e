import { Body, Controller, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import { AppError } from '../common/errors/app-error';
import type { IncomingWebhookEvent } from '../webhooks/webhook-inbox.service';
import { WebhookInbox } from '../webhooks/webhook-inbox.service';
import { WebhookEndpoint } from '../webhooks/webhook-signature.guard';
import { SENDGRID_PROVIDER } from './sendgrid-webhook.handlers';
import { SendgridSignatureGuard } from './sendgrid-signature.guard';
import {
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
} from './sendgrid-signature.verifier';

const MAX_EVENT_ID_LENGTH = 255;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The stored type of a batch element that is not an event we can read (not
 * an object, or no `event` type): stored and acknowledged like an unknown
 * type, so it changes nothing and costs the batch's other events nothing.
 */
export const SENDGRID_UNREADABLE_EVENT_TYPE = 'unreadable';

/** `sg_event_id`, or a hash of the event when SendGrid sent none (CONTRACT "Provider webhooks"). */
export function sendgridEventId(event: unknown): string {
  const id = isRecord(event) ? event.sg_event_id : undefined;
  if (typeof id === 'string' && id !== '' && id.length <= MAX_EVENT_ID_LENGTH) return id;
  return `sha256:${createHash('sha256').update(JSON.stringify(event)).digest('hex')}`;
}

/**
 * A verified Event Webhook body as inbox events; 400 `validation_failed`
 * unless it is an array. An element that is not a readable event is kept
 * under {@link SENDGRID_UNREADABLE_EVENT_TYPE}: refusing the batch for it
 * would have SendGrid send the whole batch again for a day, then drop it,
 * and with it every good event beside the bad one.
 */
export function toInboxEvents(body: unknown): IncomingWebhookEvent[] {
  if (!Array.isArray(body)) {
    throw AppError.validation([
      { field: 'body', message: 'the SendGrid Event Webhook body must be a JSON array of events' },
    ]);
  }
  return body.map((event: unknown) => {
    const readable = isRecord(event) && typeof event.event === 'string' && event.event !== '';
    return {
      eventId: sendgridEventId(event),
      type: readable ? (event.event as string) : SENDGRID_UNREADABLE_EVENT_TYPE,
      payload: event,
    };
  });
}

/** SendGrid's Signed Event Webhook: every event of a batch stored (once) before the 200. */
@ApiTags('webhooks')
@Controller('webhooks')
export class SendgridWebhookController {
  constructor(private readonly inbox: WebhookInbox) {}

  @Post('sendgrid')
  @WebhookEndpoint(SendgridSignatureGuard)
  @ApiHeader({
    name: SENDGRID_SIGNATURE_HEADER,
    required: true,
    description: 'base64 DER ECDSA signature',
  })
  @ApiHeader({ name: SENDGRID_TIMESTAMP_HEADER, required: true, description: 'unix seconds' })
  @ApiBody({ schema: { type: 'array', items: { type: 'object', additionalProperties: true } } })
  @ApiOkResponse({
    schema: { type: 'object', properties: { received: { type: 'boolean', example: true } } },
  })
  @ApiBadRequestResponse({
    description: 'invalid_signature, or a body that is not an array',
  })
  async receive(@Body() body: unknown): Promise<{ received: true }> {
    await this.inbox.store(SENDGRID_PROVIDER, toInboxEvents(body));
    return { received: true };
  }
}
