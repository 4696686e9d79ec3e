import { Injectable } from '@nestjs/common';
import { WebhookEventContext, WebhookHandler } from '../webhooks/webhook-handler.decorator';
import { SmsService } from './sms.service';
import type { TwilioParams } from './twilio-form';
import {
  TWILIO_INBOUND_TYPE,
  TWILIO_PROVIDER,
  TWILIO_STATUS_TYPE_PREFIX,
} from './twilio-webhook.controller';

/** Processes stored Twilio events in the background (the inbox retries a throw). */
@Injectable()
export class TwilioWebhookHandlers {
  constructor(private readonly sms: SmsService) {}

  // Status types are open-ended (`message.status.<any MessageStatus>`): one handler for all.
  @WebhookHandler(TWILIO_PROVIDER, '*')
  async handle(payload: unknown, context: WebhookEventContext): Promise<void> {
    const params = (payload ?? {}) as TwilioParams;
    if (context.type === TWILIO_INBOUND_TYPE) await this.sms.storeInbound(params, context);
    else if (context.type.startsWith(TWILIO_STATUS_TYPE_PREFIX))
      await this.sms.applyStatusCallback(params, context);
  }
}
