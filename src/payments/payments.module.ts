import { Module } from '@nestjs/common';
import { PaymentStateService } from './payment-state.service';
import { PaymentsController } from './payments.controller';
import { PaymentsRepository } from './payments.repository';
import { PaymentsService } from './payments.service';
import { StripeEnabledGuard } from './stripe-enabled.guard';
import { StripeSignatureGuard } from './stripe-signature.guard';
import { StripeWebhookController } from './stripe-webhook.controller';
import { StripeWebhookHandlers } from './stripe-webhook.handlers';
import { StripeClient } from './stripe.client';

/**
 * Payments through Stripe: `/payments`, `POST /webhooks/stripe` and the
 * handlers that keep payments and refunds in step with Stripe's events.
 * Needs the global WebhooksModule (inbox) and JobsModule; uses the global
 * RateLimitModule's outbound limiter when it is present.
 */
@Module({
  controllers: [PaymentsController, StripeWebhookController],
  providers: [
    StripeClient,
    PaymentsRepository,
    PaymentStateService,
    PaymentsService,
    StripeWebhookHandlers,
    StripeSignatureGuard,
    StripeEnabledGuard,
  ],
})
export class PaymentsModule {}
