import { Controller, Post, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConsumes,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { createHash } from 'node:crypto';
import { IncomingWebhookEvent, WebhookInbox } from '../webhooks/webhook-inbox.service';
import {
  headerOf,
  rawBodyOf,
  WebhookEndpoint,
  type WebhookRequest,
} from '../webhooks/webhook-signature.guard';
import { paramOf, parseTwilioForm, TwilioParams } from './twilio-form';
import { TwilioSignatureGuard } from './twilio-signature.guard';

export const TWILIO_PROVIDER = 'twilio';
export const TWILIO_INBOUND_TYPE = 'message.inbound';
export const TWILIO_STATUS_TYPE_PREFIX = 'message.status.';
/** The empty TwiML answer: "received, nothing to do" (no reply SMS). */
export const EMPTY_TWIML = '<Response/>';

/**
 * The inbox entry of one Twilio request (CONTRACT "Provider webhooks"): deduped
 * on `I-Twilio-Idempotency-Token` (stable across Twilio's retries), else on
 * `MessageSid:MessageStatus`; typed `message.status.<MessageStatus>` for status
 * callbacks and `message.inbound` for incoming messages.
 */
export function toInboxEvent(
  params: TwilioParams,
  idempotencyToken: string | undefined,
  raw: Buffer,
): IncomingWebhookEvent {
  const sid = paramOf(params, 'MessageSid') ?? paramOf(params, 'SmsSid');
  const status = paramOf(params, 'MessageStatus');
  const type = status ? `${TWILIO_STATUS_TYPE_PREFIX}${status}` : TWILIO_INBOUND_TYPE;
  const fallbackId = sid
    ? `${sid}:${status ?? paramOf(params, 'SmsStatus') ?? 'received'}`
    : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
  const eventId =
    idempotencyToken && idempotencyToken.length <= 255 ? idempotencyToken : fallbackId;
  return { eventId, type, payload: params };
}

/** `POST /webhooks/twilio`: status callbacks and inbound messages, verified, stored, then answered. */
@ApiTags('webhooks')
@Controller('webhooks')
export class TwilioWebhookController {
  constructor(private readonly inbox: WebhookInbox) {}

  @Post('twilio')
  @WebhookEndpoint(TwilioSignatureGuard)
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiProduces('text/xml')
  @ApiOkResponse({
    description: 'stored (or a repeat); empty TwiML',
    schema: { type: 'string', example: EMPTY_TWIML },
  })
  @ApiBadRequestResponse({ description: 'invalid_signature: nothing stored' })
  async receive(
    @Req() request: WebhookRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    const raw = rawBodyOf(request);
    const event = toInboxEvent(
      parseTwilioForm(raw),
      headerOf(request, 'i-twilio-idempotency-token'),
      raw,
    );
    await this.inbox.store(TWILIO_PROVIDER, [event]);
    void reply.type('text/xml');
    return EMPTY_TWIML;
  }
}
