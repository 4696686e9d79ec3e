import { CanActivate, Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';

export function sendgridDisabled(): AppError {
  return new AppError('provider_disabled', 'email is not available: SendGrid is not configured');
}

/** 503 `provider_disabled` on every email route while SendGrid's credentials are not set. */
@Injectable()
export class SendgridEnabledGuard implements CanActivate {
  constructor(@InjectConfig() private readonly config: AppConfig) {}

  canActivate(): boolean {
    if (!this.config.sendgrid.enabled) throw sendgridDisabled();
    return true;
  }
}
