import { Module } from '@nestjs/common';
import { EmailSendJob } from './email-send.job';
import { EmailsController } from './emails.controller';
import { EmailsRepository } from './emails.repository';
import { EmailsService } from './emails.service';
import { SendgridEnabledGuard } from './sendgrid-enabled.guard';
import { SendgridWebhookHandlers } from './sendgrid-webhook.handlers';
import { SendgridSignatureGuard } from './sendgrid-signature.guard';
import { SendgridWebhookController } from './sendgrid-webhook.controller';
import { SendgridClient } from './sendgrid.client';

/**
 * Email through SendGrid (CONTRACT "Email", `POST /webhooks/sendgrid`). Needs
 * the global JobQueue (JobsModule), WebhookInbox (WebhooksModule) and
 * RateLimiter (RateLimitModule).
 */
@Module({
  controllers: [EmailsController, SendgridWebhookController],
  providers: [
    EmailsRepository,
    EmailsService,
    EmailSendJob,
    SendgridClient,
    SendgridEnabledGuard,
    SendgridSignatureGuard,
    SendgridWebhookHandlers,
  ],
})
export class EmailModule {}
