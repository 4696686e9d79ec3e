import { Controller, Post, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import { IncomingWebhookEvent, WebhookInbox } from '../webhooks/webhook-inbox.service';
import {
  rawBodyOf,
  WebhookEndpoint,
  type WebhookRequest,
} from '../webhooks/webhook-signature.guard';
import { readEvent } from './stripe-objects';
import { StripeSignatureGuard } from './stripe-signature.guard';

class WebhookReceivedDto {
  @ApiProperty({ enum: [true] })
  received!: true;
}

/** Stripe's webhook endpoint: verified, stored once per event id, answered; processed in the background. */
@ApiTags('webhooks')
@Controller('webhooks')
export class StripeWebhookController {
  constructor(private readonly inbox: WebhookInbox) {}

  @Post('stripe')
  @WebhookEndpoint(StripeSignatureGuard)
  @ApiHeader({ name: 'Stripe-Signature', required: true })
  @ApiBody({
    schema: { type: 'object', description: 'a Stripe Event', additionalProperties: true },
  })
  @ApiOkResponse({ type: WebhookReceivedDto, description: 'stored (or already stored)' })
  @ApiBadRequestResponse({ description: 'invalid_signature: nothing stored' })
  @ApiServiceUnavailableResponse({ description: 'provider_disabled' })
  // The request, not @Body(): no validation pipe to run on a body readEvent checks itself.
  async receive(@Req() request: WebhookRequest): Promise<{ received: true }> {
    const body: unknown = request.body;
    await this.inbox.store('stripe', [inboxEventOf(body, rawBodyOf(request))]);
    return { received: true };
  }
}

/** The stored type of a signed body that is not an event we can read. */
export const STRIPE_UNREADABLE_EVENT_TYPE = 'unreadable';

/**
 * A verified body as the inbox stores it: under its event id and type. One we
 * cannot read (a shape of a later API version, a thin event) is stored too,
 * under its own id and type when it has them, else its hash and `unreadable`,
 * and acknowledged: a 400 would have Stripe retry it for three days and, after
 * enough failures, disable the endpoint with every event after it.
 */
export function inboxEventOf(body: unknown, raw: Buffer): IncomingWebhookEvent {
  const event = readEvent(body);
  if (event) return { eventId: event.id, type: event.type, payload: body };
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const id =
    typeof fields.id === 'string' && /^[\x21-\x7e]{1,255}$/.test(fields.id) ? fields.id : undefined;
  const type = typeof fields.type === 'string' && fields.type !== '' ? fields.type : undefined;
  return {
    eventId: id ?? `sha256:${createHash('sha256').update(raw).digest('hex')}`,
    type: (type ?? STRIPE_UNREADABLE_EVENT_TYPE).slice(0, 255),
    payload: body,
  };
}
