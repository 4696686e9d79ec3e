import { Injectable, Logger, Optional } from '@nestjs/common';
import Stripe from 'stripe';
import { Clock } from '../common/clock';
import { RateLimiter } from '../common/rate-limit/rate-limiter';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import { StripeProviderError } from './provider-error';
import {
  readIntent,
  readRefund,
  type StripeIntent,
  type StripeRefundObject,
} from './stripe-objects';

/** The API version we speak, pinned so an account upgrade cannot change the wire format under us. */
export const STRIPE_API_VERSION = '2026-10-28.endive';

/** Our own 429 retries: this base, doubling; a `Retry-After` longer than the cap is not waited for. */
const RATE_LIMIT_BACKOFF_MS = 250;
const MAX_RATE_LIMIT_WAIT_MS = 5000;
/** stripe-node's own wait before a retry is at most 5 s (`MAX_NETWORK_RETRY_DELAY_SEC`). */
const MAX_SDK_RETRY_WAIT_MS = 5000;

export type CaptureMethod = 'automatic' | 'manual';
export type RefundReason = 'duplicate' | 'fraudulent' | 'requested_by_customer';
export type CancellationReason = RefundReason | 'abandoned';

export interface CreateIntentParams {
  amount: number;
  currency: string;
  description?: string;
  customer?: string;
  paymentMethod?: string;
  confirm?: boolean;
  captureMethod?: CaptureMethod;
  metadata?: Record<string, string>;
}

export interface CreateRefundParams {
  paymentIntentId: string;
  amount: number;
  reason?: RefundReason;
}

/**
 * A Stripe object and when Stripe produced it: unix seconds of the response's
 * `Date` (Stripe's clock), or 0 when the response was replayed from Stripe's
 * idempotency store (`Idempotent-Replayed: true`). A replay shows the object
 * as it was after the first request under the key, at an unknown earlier time,
 * so it must never outrank what we learnt since.
 */
export interface StripeResult<T> {
  value: T;
  asOf: number;
}

type Sdk = InstanceType<typeof Stripe>;

/**
 * The only door to Stripe (and the only importer of the SDK). Configured from
 * `STRIPE_*` and `PROVIDER_*`; every write carries the idempotency key the
 * caller derived, so the SDK's retries and ours never act twice. The SDK
 * retries network errors, timeouts, 409 and 5xx itself; it does not retry
 * 429, so this client does, honouring `Retry-After`. Failures come out as
 * {@link StripeProviderError}; Stripe's messages stay in our logs.
 */
@Injectable()
export class StripeClient {
  private readonly logger = new Logger(StripeClient.name);
  private readonly sdk?: Sdk;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;

  constructor(
    @InjectConfig() config: AppConfig,
    private readonly clock: Clock,
    @Optional() private readonly limiter?: RateLimiter,
  ) {
    this.maxRetries = config.providers.maxRetries;
    this.timeoutMs = config.providers.timeoutMs;
    const { enabled, apiKey, apiBaseUrl } = config.stripe;
    if (!enabled || !apiKey) return;
    const base = apiBaseUrl ? new URL(apiBaseUrl) : undefined;
    if (base && base.pathname !== '/')
      this.logger.warn(
        'STRIPE_API_BASE_URL has a path; the Stripe SDK ignores it (requests go to /v1/…)',
      );
    const protocol = base?.protocol === 'http:' ? 'http' : 'https';
    this.sdk = new Stripe(apiKey, {
      apiVersion: STRIPE_API_VERSION,
      ...(base
        ? {
            host: base.hostname,
            port: base.port || (protocol === 'http' ? 80 : 443),
            protocol,
          }
        : {}),
      timeout: config.providers.timeoutMs,
      maxNetworkRetries: config.providers.maxRetries,
      telemetry: false,
    });
  }

  /**
   * The longest one call can take: every attempt timing out, with the SDK's
   * and our own waits between them (rate limiting by our own limiter aside).
   */
  get longestCallMs(): number {
    const attempts = this.maxRetries + 1;
    return (
      attempts * this.timeoutMs + this.maxRetries * (MAX_SDK_RETRY_WAIT_MS + MAX_RATE_LIMIT_WAIT_MS)
    );
  }

  /** False when Stripe's credentials are not configured (routes answer `provider_disabled`). */
  get enabled(): boolean {
    return this.sdk !== undefined;
  }

  createPaymentIntent(
    params: CreateIntentParams,
    idempotencyKey: string,
  ): Promise<StripeResult<StripeIntent>> {
    const body: Stripe.PaymentIntentCreateParams = {
      amount: params.amount,
      currency: params.currency,
      ...(params.description !== undefined ? { description: params.description } : {}),
      ...(params.customer !== undefined ? { customer: params.customer } : {}),
      ...(params.paymentMethod !== undefined ? { payment_method: params.paymentMethod } : {}),
      ...(params.captureMethod !== undefined ? { capture_method: params.captureMethod } : {}),
      ...(params.metadata !== undefined ? { metadata: params.metadata } : {}),
    };
    if (params.confirm) {
      body.confirm = true;
      // Confirming server-side has no page to return to: only payment methods that never redirect.
      body.automatic_payment_methods = { enabled: true, allow_redirects: 'never' };
    }
    return this.call(
      'paymentIntents.create',
      (sdk) => sdk.paymentIntents.create(body, { idempotencyKey }),
      readIntent,
    );
  }

  retrievePaymentIntent(id: string): Promise<StripeResult<StripeIntent>> {
    return this.call(
      'paymentIntents.retrieve',
      (sdk) => sdk.paymentIntents.retrieve(id),
      readIntent,
    );
  }

  cancelPaymentIntent(
    id: string,
    reason: CancellationReason | undefined,
    idempotencyKey: string,
  ): Promise<StripeResult<StripeIntent>> {
    return this.call(
      'paymentIntents.cancel',
      (sdk) =>
        sdk.paymentIntents.cancel(id, reason ? { cancellation_reason: reason } : {}, {
          idempotencyKey,
        }),
      readIntent,
    );
  }

  createRefund(
    params: CreateRefundParams,
    idempotencyKey: string,
  ): Promise<StripeResult<StripeRefundObject>> {
    const body: Stripe.RefundCreateParams = {
      payment_intent: params.paymentIntentId,
      amount: params.amount,
      ...(params.reason ? { reason: params.reason } : {}),
    };
    return this.call(
      'refunds.create',
      (sdk) => sdk.refunds.create(body, { idempotencyKey }),
      readRefund,
    );
  }

  retrieveRefund(id: string): Promise<StripeResult<StripeRefundObject>> {
    return this.call('refunds.retrieve', (sdk) => sdk.refunds.retrieve(id), readRefund);
  }

  private async call<R extends object, T>(
    operation: string,
    send: (sdk: Sdk) => Promise<Stripe.Response<R>>,
    read: (raw: unknown) => T | undefined,
  ): Promise<StripeResult<T>> {
    const sdk = this.sdk;
    if (!sdk) throw new StripeProviderError('unavailable', 'Stripe is not configured');
    for (let retry = 0; ; retry++) {
      await this.limiter?.acquire('stripe');
      let response: Stripe.Response<R>;
      try {
        response = await send(sdk);
      } catch (err) {
        const waitMs = this.rateLimitWait(err, retry);
        if (waitMs !== undefined) {
          this.logger.warn(
            { operation, retry: retry + 1, waitMs },
            'Stripe rate limited us; retrying',
          );
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          continue;
        }
        throw this.translate(err, operation);
      }
      const value = read(response);
      if (value === undefined) {
        this.logger.error({ operation }, 'Stripe answered with an object we cannot read');
        throw new StripeProviderError('unavailable', `unreadable ${operation} response`);
      }
      return { value, asOf: this.asOf(response.lastResponse?.headers) };
    }
  }

  /** How long to wait before retrying a 429 ourselves; undefined when it is not one or we give up. */
  private rateLimitWait(err: unknown, retry: number): number | undefined {
    if (!(err instanceof Stripe.errors.StripeRateLimitError) || retry >= this.maxRetries)
      return undefined;
    const retryAfter = retryAfterSeconds(err.headers);
    const waitMs =
      retryAfter !== undefined
        ? retryAfter * 1000
        : RATE_LIMIT_BACKOFF_MS * 2 ** retry * (0.5 + Math.random() / 2);
    return waitMs <= MAX_RATE_LIMIT_WAIT_MS ? waitMs : undefined;
  }

  private translate(err: unknown, operation: string): unknown {
    if (!(err instanceof Stripe.errors.StripeError)) return err;
    const log = {
      operation,
      type: err.type,
      code: err.code,
      statusCode: err.statusCode,
      stripeRequestId: err.requestId,
      message: err.message,
    };
    const asOf = this.asOf(err.headers);
    const intent = readIntent(err.payment_intent);
    if (err instanceof Stripe.errors.StripeCardError) {
      this.logger.log(log, 'Stripe declined the card');
      return new StripeProviderError('declined', err.message, {
        code: err.code,
        declineCode: err.decline_code || undefined,
        intent,
        asOf,
      });
    }
    if (err instanceof Stripe.errors.StripeIdempotencyError) {
      // Something was done under this key with other parameters: never "nothing happened".
      this.logger.warn(log, 'Stripe holds another request under this idempotency key');
      return new StripeProviderError('key_reused', err.message, { code: err.code, intent, asOf });
    }
    if (err instanceof Stripe.errors.StripeInvalidRequestError) {
      this.logger.warn(log, 'Stripe rejected the request');
      return new StripeProviderError('rejected', err.message, {
        code: err.code,
        param: err.param,
        intent,
        asOf,
      });
    }
    if (
      err instanceof Stripe.errors.StripeAuthenticationError ||
      err instanceof Stripe.errors.StripePermissionError
    ) {
      // Our credentials, not the client's request: an operator must act.
      this.logger.error(log, 'Stripe refused our API key');
    } else {
      this.logger.warn(log, 'Stripe is unavailable');
    }
    return new StripeProviderError('unavailable', err.message, {
      code: err.code,
      retryAfterSeconds: retryAfterSeconds(err.headers),
    });
  }

  private asOf(headers: Record<string, string> | undefined): number {
    if (headers?.['idempotent-replayed'] === 'true') return 0;
    const date = headers?.date ? Date.parse(headers.date) : NaN;
    const ms = Number.isFinite(date) ? date : this.clock.now().getTime();
    return Math.floor(ms / 1000);
  }
}

/** `Retry-After` in seconds (delta or HTTP date); undefined when absent or unusable. */
export function retryAfterSeconds(
  headers: Record<string, string> | undefined,
  nowMs = Date.now(),
): number | undefined {
  const value = headers?.['retry-after']?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - nowMs) / 1000)) : undefined;
}
