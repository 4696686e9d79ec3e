import {
  CREATING,
  FINAL_PAYMENT_STATUSES,
  type PaymentsTable,
  type RefundStatus,
  type RefundsTable,
} from './payments.tables';
import type { StripeIntent } from './stripe-objects';

/**
 * Where a PaymentIntent came from: `fresh` is Stripe's answer to a call we
 * just made (a create, cancel or re-read), `event` a webhook that may be late.
 */
export type IntentSource = 'fresh' | 'event';

/** `apply` the intent, `ignore` it (stale, or the payment is final), or `reread` it from Stripe first. */
export type IntentDecision = 'apply' | 'ignore' | 'reread';

export function isFinalPaymentStatus(status: PaymentsTable['status']): boolean {
  return (FINAL_PAYMENT_STATUSES as readonly string[]).includes(status);
}

/**
 * CONTRACT "Payments": `succeeded` and `canceled` never change; other
 * statuses follow the newest Stripe state. Stripe's `created` has one-second
 * resolution, so an event from the same second as what we hold cannot be
 * ordered: when it disagrees, the PaymentIntent is re-read from Stripe
 * instead of guessed. A final status
 * always applies, since a PaymentIntent never leaves one.
 */
export function decideIntentUpdate(
  row: Pick<PaymentsTable, 'status' | 'status_as_of' | 'provider_id'>,
  intent: Pick<StripeIntent, 'id' | 'status'>,
  asOf: number,
  source: IntentSource,
): IntentDecision {
  if (row.provider_id !== null && row.provider_id !== intent.id) return 'ignore';
  if (isFinalPaymentStatus(row.status)) return 'ignore';
  if (row.status === CREATING || isFinalPaymentStatus(intent.status)) return 'apply';
  if (asOf > row.status_as_of) return 'apply';
  if (asOf < row.status_as_of) return 'ignore';
  if (source === 'fresh') return 'apply';
  // Same second: an event agreeing with what we hold tells us nothing; one that disagrees is checked.
  return intent.status === row.status ? 'ignore' : 'reread';
}

const REFUND_RANK: Readonly<Record<RefundsTable['status'], number>> = {
  [CREATING]: 0,
  pending: 1,
  requires_action: 1,
  succeeded: 2,
  failed: 3,
  canceled: 3,
};

/**
 * A refund moves forward only: pending → succeeded → failed (Stripe can fail
 * a refund after it succeeded, never the reverse), so order of arrival does
 * not matter.
 */
export function shouldApplyRefundStatus(
  current: RefundsTable['status'],
  incoming: RefundStatus,
): boolean {
  return REFUND_RANK[incoming] >= REFUND_RANK[current] && incoming !== current;
}
