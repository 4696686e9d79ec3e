import type { PaymentIntent, StripeErrorObject } from './stripe.types';

const DOCS = 'https://stripe.com/docs/error-codes';

/** Stripe's `doc_url` for an error code: `card_declined` → …/error-codes/card-declined. */
export function docUrl(code: string): string {
  return `${DOCS}/${code.replace(/_/g, '-')}`;
}

/**
 * An error answered in Stripe's shape `{ error: {...} }`. `beforeExecution`
 * marks parameter validation: Stripe keeps no idempotent result for those
 * ("no idempotent result is saved because no API endpoint began execution").
 */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: StripeErrorObject,
    readonly beforeExecution = false,
  ) {
    super(error.message);
    this.name = 'StripeApiError';
  }
}

export function invalidRequest(
  message: string,
  extra: {
    param?: string;
    code?: string;
    status?: number;
    paymentIntent?: PaymentIntent;
    beforeExecution?: boolean;
  } = {},
): StripeApiError {
  const error: StripeErrorObject = { type: 'invalid_request_error', message };
  if (extra.code) {
    error.code = extra.code;
    error.doc_url = docUrl(extra.code);
  }
  if (extra.param) error.param = extra.param;
  if (extra.paymentIntent) error.payment_intent = extra.paymentIntent;
  return new StripeApiError(extra.status ?? 400, error, extra.beforeExecution ?? false);
}

/** A parameter problem found before the endpoint ran (not kept for idempotent replay). */
export function paramError(message: string, param: string, code?: string): StripeApiError {
  return invalidRequest(message, { param, code, beforeExecution: true });
}

export function resourceMissing(
  kind: string,
  id: string,
  param: string,
  status = 404,
): StripeApiError {
  return invalidRequest(`No such ${kind}: '${id}'`, { param, code: 'resource_missing', status });
}

export function unexpectedState(message: string, paymentIntent: PaymentIntent): StripeApiError {
  return invalidRequest(message, { code: 'payment_intent_unexpected_state', paymentIntent });
}

export function unrecognizedUrl(method: string, path: string): StripeApiError {
  return invalidRequest(
    `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    { status: 404, beforeExecution: true },
  );
}

export function idempotencyError(message: string): StripeApiError {
  return new StripeApiError(400, { type: 'idempotency_error', message }, true);
}

export function errorBody(error: StripeErrorObject): { error: StripeErrorObject } {
  return { error };
}
