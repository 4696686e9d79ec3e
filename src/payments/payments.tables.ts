/**
 * The payments module's tables (migration 002-payments), added to the shared
 * schema by module augmentation so the database module stays provider-free.
 */

/** Stripe's PaymentIntent statuses (CONTRACT: a Payment's `status` is Stripe's). */
export const PAYMENT_STATUSES = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
  'processing',
  'requires_capture',
  'canceled',
  'succeeded',
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** Final: never changes once reached, whatever arrives later. */
export const FINAL_PAYMENT_STATUSES: readonly PaymentStatus[] = ['succeeded', 'canceled'];

export const REFUND_STATUSES = [
  'pending',
  'requires_action',
  'succeeded',
  'failed',
  'canceled',
] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/**
 * Internal status of a row whose Stripe call has not answered yet: such rows
 * have no `provider_id` and are never shown to clients.
 */
export const CREATING = 'creating';

export interface PaymentsTable {
  id: string;
  provider: 'stripe';
  provider_id: string | null;
  idempotency_key: string;
  status: PaymentStatus | typeof CREATING;
  amount: number;
  amount_refunded: number;
  currency: string;
  description: string | null;
  customer: string | null;
  /** JSON object of string pairs. */
  metadata: string;
  last_error_code: string | null;
  last_error_message: string | null;
  status_as_of: number;
  /** What the row was created for (migration 006); null on older rows. */
  request_fingerprint: string | null;
  created_at: string;
  updated_at: string;
}

export interface RefundsTable {
  id: string;
  payment_id: string;
  provider_id: string | null;
  idempotency_key: string | null;
  amount: number;
  reason: string | null;
  status: RefundStatus | typeof CREATING;
  /** What the row was created for (migration 006); null on older rows and refunds learnt from webhooks. */
  request_fingerprint: string | null;
  created_at: string;
  updated_at: string;
}

declare module '../database/database.types' {
  interface DatabaseSchema {
    payments: PaymentsTable;
    refunds: RefundsTable;
  }
}
