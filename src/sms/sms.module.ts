import { Module } from '@nestjs/common';
import { SmsController } from './sms.controller';
import { SmsRepository } from './sms.repository';
import { SmsService } from './sms.service';
import { TwilioClient, TwilioRetryWait } from './twilio.client';
import { TwilioEnabledGuard } from './twilio-enabled.guard';
import { TwilioSignatureGuard } from './twilio-signature.guard';
import { TwilioWebhookController } from './twilio-webhook.controller';
import { TwilioWebhookHandlers } from './twilio-webhook.handlers';

/**
 * SMS through Twilio: `POST/GET /sms`, the `sms.send` job and `POST
 * /webhooks/twilio`. Needs the global JobQueue (JobsModule), WebhookInbox
 * (WebhooksModule) and RateLimiter (RateLimitModule).
 */
@Module({
  controllers: [SmsController, TwilioWebhookController],
  providers: [
    SmsRepository,
    SmsService,
    TwilioClient,
    TwilioRetryWait,
    TwilioEnabledGuard,
    TwilioSignatureGuard,
    TwilioWebhookHandlers,
  ],
})
export class SmsModule {}
