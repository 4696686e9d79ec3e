import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppError } from '../common/errors/app-error';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import {
  headerOf,
  invalidSignature,
  rawBodyOf,
  WebhookRequest,
  WebhookSignatureGuard,
} from '../webhooks/webhook-signature.guard';
import { verifyStripeSignature } from './stripe-signature.verifier';

/** `POST /webhooks/stripe`: `Stripe-Signature` over the raw bytes, any configured secret, within the tolerance. */
@Injectable()
export class StripeSignatureGuard extends WebhookSignatureGuard {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    super();
  }

  protected verify(request: WebhookRequest): boolean {
    const { enabled, webhookSecrets } = this.config.stripe;
    if (!enabled || webhookSecrets.length === 0)
      throw new AppError('provider_disabled', 'Stripe is not enabled');
    const check = verifyStripeSignature(
      rawBodyOf(request),
      headerOf(request, 'stripe-signature'),
      webhookSecrets,
      this.config.webhooks.toleranceSeconds,
      Math.floor(this.clock.now().getTime() / 1000),
    );
    if (!check.ok) throw invalidSignature(check.reason);
    return true;
  }
}
