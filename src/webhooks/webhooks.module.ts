import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WebhookEventsController } from './webhook-events.controller';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookEventsService } from './webhook-events.service';
import { WebhookHandlerRegistry } from './webhook-handler.registry';
import { WebhookInbox } from './webhook-inbox.service';
import { WebhookRetentionService } from './webhook-retention.service';

/**
 * The provider-independent webhook inbox. Global: a provider module injects
 * {@link WebhookInbox} into its webhook controller and marks its handlers with
 * `@WebhookHandler`, without importing this module. Needs the global
 * `JobQueue` (JobsModule).
 */
@Global()
@Module({
  imports: [DiscoveryModule],
  controllers: [WebhookEventsController],
  providers: [
    WebhookEventsRepository,
    WebhookHandlerRegistry,
    WebhookInbox,
    WebhookEventsService,
    WebhookRetentionService,
  ],
  exports: [WebhookInbox],
})
export class WebhooksModule {}
