import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import {
  headerOf,
  invalidSignature,
  rawBodyOf,
  WebhookRequest,
  WebhookSignatureGuard,
} from '../webhooks/webhook-signature.guard';
import { isValidTwilioSignature } from './twilio.client';
import { parseTwilioForm } from './twilio-form';
import { twilioDisabled } from './twilio-enabled.guard';

/**
 * `X-Twilio-Signature` on `POST /webhooks/twilio`. The signed URL is
 * `PUBLIC_BASE_URL` + the path and query exactly as received — never built
 * from `Host` or `X-Forwarded-*`, which a proxy rewrites and a forger controls —
 * and the signed params are every form field of the raw body.
 */
@Injectable()
export class TwilioSignatureGuard extends WebhookSignatureGuard {
  constructor(@InjectConfig() private readonly config: AppConfig) {
    super();
  }

  /** The URL Twilio called, as Twilio saw it. */
  publicUrlOf(request: WebhookRequest): string {
    return `${this.config.http.publicBaseUrl}${request.url}`;
  }

  protected verify(request: WebhookRequest): boolean {
    const { enabled, authToken } = this.config.twilio;
    if (!enabled || !authToken) throw twilioDisabled();
    const signature = headerOf(request, 'x-twilio-signature');
    if (!signature) throw invalidSignature('missing X-Twilio-Signature');
    const params = parseTwilioForm(rawBodyOf(request));
    return isValidTwilioSignature(authToken, signature, this.publicUrlOf(request), params);
  }
}
