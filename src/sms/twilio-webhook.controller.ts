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
import { OUR_MESSAGE_ID_KEY, paramOf, parseTwilioForm, TwilioParams } from './twilio-form';
import { TwilioSignatureGuard } from './twilio-signature.guard';
import { SMS_ID_PATTERN } from './sms-id';
import { TWILIO_CALLBACK_MESSAGE_PARAM } from './twilio.client';

export const TWILIO_PROVIDER = 'twilio';
export const TWILIO_INBOUND_TYPE = 'message.inbound';
export const TWILIO_STATUS_TYPE_PREFIX = 'message.status.';
/** The empty TwiML answer: "received, nothing to do" (no reply SMS). */
export const EMPTY_TWIML = '<Response/>';

/** Our message id from a status callback URL (`?message=sms_…`, signed by Twilio with the URL). */
export function callbackMessageIdOf(url: string): string | undefined {
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  const id = new URLSearchParams(url.slice(query + 1)).get(TWILIO_CALLBACK_MESSAGE_PARAM);
  return id !== null && SMS_ID_PATTERN.test(id) ? id : undefined;
}

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
    const params = parseTwilioForm(raw);
    const messageId = callbackMessageIdOf(request.url);
    const event = toInboxEvent(params, headerOf(request, 'i-twilio-idempotency-token'), raw);
    if (messageId !== undefined) params[OUR_MESSAGE_ID_KEY] = messageId;
    await this.inbox.store(TWILIO_PROVIDER, [event]);
    void reply.type('text/xml');
    return EMPTY_TWIML;
  }
}
