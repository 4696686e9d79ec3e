import { CanActivate, Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';

export function twilioDisabled(): AppError {
  return new AppError('provider_disabled', 'SMS is not available: Twilio is not configured');
}

/** 503 `provider_disabled` on every SMS route while Twilio has no credentials (CONTRACT §1). */
@Injectable()
export class TwilioEnabledGuard implements CanActivate {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.twilio.enabled) throw twilioDisabled();
    return true;
  }
}
