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
import { AppError } from '../common/errors/app-error';
import { WebhookInbox } from '../webhooks/webhook-inbox.service';
import { WebhookEndpoint, type WebhookRequest } from '../webhooks/webhook-signature.guard';
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
    const event = readEvent(body);
    if (!event)
      throw AppError.validation([{ field: 'body', message: 'the body is not a Stripe event' }]);
    await this.inbox.store('stripe', [{ eventId: event.id, type: event.type, payload: body }]);
    return { received: true };
  }
}
