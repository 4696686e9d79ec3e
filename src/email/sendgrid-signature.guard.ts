import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import {
  headerOf,
  invalidSignature,
  rawBodyOf,
  WebhookRequest,
  WebhookSignatureGuard,
} from '../webhooks/webhook-signature.guard';
import { sendgridDisabled } from './sendgrid-enabled.guard';
import {
  parseSendgridTimestamp,
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  SendgridSignatureVerifier,
} from './sendgrid-signature.verifier';

/**
 * Lets a SendGrid Event Webhook through only when its ECDSA signature over
 * `timestamp + raw body` verifies with `SENDGRID_WEBHOOK_PUBLIC_KEY` and the
 * timestamp is within `WEBHOOK_TOLERANCE_SECONDS` of now, past or future
 * (SendGrid's SDK checks neither bound: a captured request could be replayed
 * forever). Anything else is 400 `invalid_signature` with nothing stored.
 */
@Injectable()
export class SendgridSignatureGuard extends WebhookSignatureGuard {
  private readonly verifier?: SendgridSignatureVerifier;
  private readonly toleranceSeconds: number;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    super();
    const key = config.sendgrid.webhookPublicKey;
    this.verifier = key === undefined ? undefined : SendgridSignatureVerifier.fromPublicKey(key);
    this.toleranceSeconds = config.webhooks.toleranceSeconds;
  }

  protected verify(request: WebhookRequest): boolean {
    if (!this.config.sendgrid.enabled || !this.verifier) throw sendgridDisabled();
    const signature = headerOf(request, SENDGRID_SIGNATURE_HEADER);
    const timestamp = headerOf(request, SENDGRID_TIMESTAMP_HEADER);
    if (!signature || !timestamp)
      throw invalidSignature('the SendGrid signature headers are missing');
    const seconds = parseSendgridTimestamp(timestamp);
    if (seconds === undefined)
      throw invalidSignature('the SendGrid signature timestamp is malformed');
    const nowSeconds = Math.floor(this.clock.now().getTime() / 1000);
    if (Math.abs(nowSeconds - seconds) > this.toleranceSeconds) {
      throw invalidSignature('the SendGrid signature timestamp is outside the tolerance');
    }
    return this.verifier.verify(rawBodyOf(request), signature, timestamp);
  }
}
