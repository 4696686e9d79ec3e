import { CanActivate, Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import { StripeClient } from './stripe.client';

/** The payment routes answer 503 `provider_disabled` while Stripe is not configured. */
@Injectable()
export class StripeEnabledGuard implements CanActivate {
  constructor(private readonly stripe: StripeClient) {}

  canActivate(): boolean {
    if (!this.stripe.enabled) throw new AppError('provider_disabled', 'Stripe is not enabled');
    return true;
  }
}
