import { PAYMENT_STATUSES, PaymentStatus, REFUND_STATUSES, RefundStatus } from './payments.tables';

/**
 * Stripe's objects as this module uses them, read from plain JSON: the SDK's
 * responses and the webhook payloads have the same wire shape, so one reader
 * serves both and nothing outside stripe.client.ts needs the SDK's types.
 */

export interface StripeIntent {
  id: string;
  status: PaymentStatus;
  amount: number;
  currency: string;
  clientSecret: string | null;
  lastError: StripePaymentError | null;
}

export interface StripePaymentError {
  /** Stripe's error code, e.g. `card_declined`, `expired_card`. */
  code: string;
  /** The issuer's reason, e.g. `insufficient_funds`; null when Stripe gives none. */
  declineCode: string | null;
}

export interface StripeRefundObject {
  id: string;
  paymentIntentId: string | null;
  amount: number;
  status: RefundStatus;
  reason: string | null;
}

/** A webhook event's envelope, with its object left for the handler to read. */
export interface StripeEventEnvelope {
  id: string;
  type: string;
  /** Unix seconds, Stripe's clock. */
  created: number;
  object: unknown;
  /** The `Idempotency-Key` of the API request that caused the event, if any. */
  requestIdempotencyKey: string | null;
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const int = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) ? value : null;
/** An expandable field: the id, whether Stripe sent the id or the expanded object. */
const idOf = (value: unknown): string | null =>
  str(value) ?? (isRecord(value) ? str(value.id) : null);

function paymentErrorOf(value: unknown): StripePaymentError | null {
  if (!isRecord(value)) return null;
  const code = str(value.code) ?? str(value.type);
  return code ? { code, declineCode: str(value.decline_code) } : null;
}

/** A PaymentIntent, or undefined when `value` is not one this version of us understands. */
export function readIntent(value: unknown): StripeIntent | undefined {
  if (!isRecord(value) || value.object !== 'payment_intent') return undefined;
  const id = str(value.id);
  const status = str(value.status);
  const amount = int(value.amount);
  const currency = str(value.currency);
  if (!id || !status || amount === null || !currency) return undefined;
  if (!(PAYMENT_STATUSES as readonly string[]).includes(status)) return undefined;
  return {
    id,
    status: status as PaymentStatus,
    amount,
    currency,
    clientSecret: str(value.client_secret),
    lastError: paymentErrorOf(value.last_payment_error),
  };
}

export function readRefund(value: unknown): StripeRefundObject | undefined {
  if (!isRecord(value) || value.object !== 'refund') return undefined;
  const id = str(value.id);
  const status = str(value.status);
  const amount = int(value.amount);
  if (!id || !status || amount === null) return undefined;
  if (!(REFUND_STATUSES as readonly string[]).includes(status)) return undefined;
  return {
    id,
    paymentIntentId: idOf(value.payment_intent),
    amount,
    status: status as RefundStatus,
    reason: str(value.reason),
  };
}

/** The refunds a Charge lists (`charge.refunded` events), and the PaymentIntent it belongs to. */
export function readChargeRefunds(
  value: unknown,
): { paymentIntentId: string | null; refunds: StripeRefundObject[] } | undefined {
  if (!isRecord(value) || value.object !== 'charge') return undefined;
  const list =
    isRecord(value.refunds) && Array.isArray(value.refunds.data) ? value.refunds.data : [];
  const refunds = list
    .map((r) => readRefund(r))
    .filter((r): r is StripeRefundObject => r !== undefined);
  return { paymentIntentId: idOf(value.payment_intent), refunds };
}

export function readEvent(value: unknown): StripeEventEnvelope | undefined {
  if (!isRecord(value) || value.object !== 'event') return undefined;
  const id = str(value.id);
  const type = str(value.type);
  const created = int(value.created);
  if (!id || !type || created === null || !isRecord(value.data)) return undefined;
  const request = isRecord(value.request) ? value.request : undefined;
  return {
    id,
    type,
    created,
    object: value.data.object,
    requestIdempotencyKey: str(request?.idempotency_key),
  };
}
