import type { StripeIntent } from './stripe-objects';

/**
 * How a Stripe call failed, in our terms:
 * - `declined`: the card was declined (402); a PaymentIntent may come with it;
 * - `rejected`: Stripe refused the request as invalid (unknown customer, bad state, …);
 * - `unavailable`: Stripe failed, timed out, was unreachable or rate limited us after retries;
 * - `key_reused`: Stripe holds another request under the idempotency key (`idempotency_error`),
 *   so something was done under it: unlike `rejected`, not a sign that nothing exists.
 */
export type ProviderErrorKind = 'declined' | 'rejected' | 'unavailable' | 'key_reused';

export interface ProviderErrorInfo {
  /** Stripe's error code (`card_declined`, `resource_missing`, …). */
  code?: string;
  declineCode?: string;
  /** The request parameter Stripe blamed. */
  param?: string;
  /** Seconds, when Stripe said when to come back. */
  retryAfterSeconds?: number;
  /** The PaymentIntent Stripe returned with the error, if any. */
  intent?: StripeIntent;
  /**
   * Unix seconds (Stripe's clock) of the state `intent` shows: the response's
   * `Date`, or 0 when Stripe replayed a stored answer (the state is as old as
   * the first request, which we cannot date).
   */
  asOf?: number;
}

/**
 * Thrown by the Stripe client. Its `message` is Stripe's own text, kept for
 * our logs only: the service turns it into an `AppError` with a safe message.
 */
export class StripeProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    readonly info: ProviderErrorInfo = {},
  ) {
    super(message);
    this.name = 'StripeProviderError';
  }
}

const DECLINE_MESSAGES: Readonly<Record<string, string>> = {
  insufficient_funds: 'the card has insufficient funds',
  expired_card: 'the card has expired',
  incorrect_cvc: "the card's security code is incorrect",
  incorrect_number: 'the card number is incorrect',
  processing_error: 'an error occurred while processing the card; try again',
  authentication_required: 'the payment requires the customer to authenticate',
  payment_intent_authentication_failure: 'the customer did not authenticate the payment',
};

/**
 * A message we wrote for a failed payment attempt, never Stripe's text. Lost,
 * stolen and fraud declines read as a plain decline, as Stripe advises.
 */
export function paymentFailureMessage(code: string, declineCode: string | null): string {
  return (
    DECLINE_MESSAGES[declineCode ?? ''] ??
    DECLINE_MESSAGES[code] ??
    (code === 'card_declined' ? 'the card was declined' : 'the payment attempt failed')
  );
}
