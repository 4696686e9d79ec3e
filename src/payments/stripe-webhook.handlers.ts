import { Injectable } from '@nestjs/common';
import { WebhookHandler } from '../webhooks/webhook-handler.decorator';
import { PaymentStateService } from './payment-state.service';

/** The Stripe event types that move our payments and refunds; the rest are stored and change nothing. */
@Injectable()
export class StripeWebhookHandlers {
  constructor(private readonly state: PaymentStateService) {}

  @WebhookHandler('stripe', 'payment_intent.created')
  @WebhookHandler('stripe', 'payment_intent.processing')
  @WebhookHandler('stripe', 'payment_intent.requires_action')
  @WebhookHandler('stripe', 'payment_intent.amount_capturable_updated')
  @WebhookHandler('stripe', 'payment_intent.partially_funded')
  @WebhookHandler('stripe', 'payment_intent.payment_failed')
  @WebhookHandler('stripe', 'payment_intent.succeeded')
  @WebhookHandler('stripe', 'payment_intent.canceled')
  onPaymentIntent(event: unknown): Promise<void> {
    return this.state.onIntentEvent(event);
  }

  @WebhookHandler('stripe', 'refund.created')
  @WebhookHandler('stripe', 'refund.updated')
  @WebhookHandler('stripe', 'refund.failed')
  @WebhookHandler('stripe', 'charge.refund.updated')
  onRefund(event: unknown): Promise<void> {
    return this.state.onRefundEvent(event);
  }

  @WebhookHandler('stripe', 'charge.refunded')
  onChargeRefunded(event: unknown): Promise<void> {
    return this.state.onChargeRefundedEvent(event);
  }
}
