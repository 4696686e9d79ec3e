import { createHash } from 'node:crypto';

import { randomAlphanumeric, stripeId } from './stripe-ids';
import type { TestCard } from './stripe-test-cards';
import type {
  BillingDetails,
  CardChecks,
  Charge,
  PaymentIntent,
  PaymentMethod,
  Refund,
  StripeErrorObject,
} from './stripe.types';

const EXP_MONTH = 12;
const EXP_YEAR = 2034;

function emptyBillingDetails(): BillingDetails {
  return {
    address: {
      city: null,
      country: null,
      line1: null,
      line2: null,
      postal_code: null,
      state: null,
    },
    email: null,
    name: null,
    phone: null,
    tax_id: null,
  };
}

function checks(): CardChecks {
  return { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' };
}

/** Stable per card number, like Stripe's: the same test card always has the same fingerprint. */
function fingerprint(card: TestCard): string {
  return createHash('sha256')
    .update(`${card.brand}:${card.last4}`)
    .digest('base64url')
    .slice(0, 16);
}

export function newPaymentMethod(
  card: TestCard,
  created: number,
  customer: string | null,
): PaymentMethod {
  return {
    id: stripeId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: emptyBillingDetails(),
    card: {
      brand: card.brand,
      checks: checks(),
      country: card.country,
      display_brand: card.brand,
      exp_month: EXP_MONTH,
      exp_year: EXP_YEAR,
      fingerprint: fingerprint(card),
      funding: card.funding,
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created,
    customer,
    livemode: false,
    metadata: {},
    type: 'card',
  };
}

export interface NewPaymentIntent {
  amount: number;
  currency: string;
  created: number;
  automaticPaymentMethods: PaymentIntent['automatic_payment_methods'];
  captureMethod: PaymentIntent['capture_method'];
  confirmationMethod: PaymentIntent['confirmation_method'];
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  allowedPaymentMethodTypes: string[] | null;
  paymentMethodTypes: string[];
  receiptEmail: string | null;
  setupFutureUsage: PaymentIntent['setup_future_usage'];
  statementDescriptor: string | null;
  statementDescriptorSuffix: string | null;
  transferGroup: string | null;
}

export function newPaymentIntent(p: NewPaymentIntent): PaymentIntent {
  const id = stripeId('pi');
  return {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: p.allowedPaymentMethodTypes,
    amount: p.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: p.automaticPaymentMethods,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: p.captureMethod,
    client_secret: `${id}_secret_${randomAlphanumeric(25)}`,
    confirmation_method: p.confirmationMethod,
    created: p.created,
    currency: p.currency,
    customer: p.customer,
    customer_account: null,
    description: p.description,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: p.metadata,
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: {
        installments: null,
        mandate_options: null,
        network: null,
        request_three_d_secure: 'automatic',
      },
    },
    payment_method_types: p.paymentMethodTypes,
    payment_record: null,
    processing: null,
    receipt_email: p.receiptEmail,
    review: null,
    setup_future_usage: p.setupFutureUsage,
    shipping: null,
    source: null,
    statement_descriptor: p.statementDescriptor,
    statement_descriptor_suffix: p.statementDescriptorSuffix,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: p.transferGroup,
  };
}

export interface NewCharge {
  intent: PaymentIntent;
  paymentMethod: PaymentMethod;
  created: number;
  /** Absent: authorised (and captured unless the PI captures manually). */
  failure?: { code: string; declineCode: string; message: string };
}

export function newCharge({ intent, paymentMethod, created, failure }: NewCharge): Charge {
  const id = stripeId('ch');
  const captured = !failure && intent.capture_method !== 'manual';
  const card = paymentMethod.card;
  return {
    id,
    object: 'charge',
    amount: intent.amount,
    amount_captured: captured ? intent.amount : 0,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: captured ? stripeId('txn') : null,
    billing_details: emptyBillingDetails(),
    calculated_statement_descriptor: 'SWITCHBOARD SANDBOX',
    captured,
    created,
    currency: intent.currency,
    customer: intent.customer,
    description: intent.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: failure?.code ?? null,
    failure_message: failure?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: { ...intent.metadata },
    on_behalf_of: null,
    outcome: failure
      ? {
          network_status: 'declined_by_network',
          reason: failure.declineCode,
          risk_level: 'normal',
          risk_score: 40,
          seller_message: 'The bank did not return any further details with this decline.',
          type: 'issuer_declined',
        }
      : {
          network_status: 'approved_by_network',
          reason: null,
          risk_level: 'normal',
          risk_score: 12,
          seller_message: 'Payment complete.',
          type: 'authorized',
        },
    paid: !failure,
    payment_intent: intent.id,
    payment_method: paymentMethod.id,
    payment_method_details: {
      card: {
        amount_authorized: failure ? null : intent.amount,
        brand: card.brand,
        checks: checks(),
        country: card.country,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint: card.fingerprint,
        funding: card.funding,
        installments: null,
        last4: card.last4,
        mandate: null,
        network: card.brand,
        three_d_secure: null,
        wallet: null,
      },
      type: 'card',
    },
    receipt_email: intent.receipt_email,
    receipt_number: null,
    receipt_url: failure
      ? null
      : `https://pay.stripe.com/receipts/payment/${randomAlphanumeric(40)}`,
    refunded: false,
    // The 2022 API listed refunds on the charge; newer versions only on expansion. Kept: it is what the spec requires.
    refunds: {
      object: 'list',
      data: [],
      has_more: false,
      total_count: 0,
      url: `/v1/charges/${id}/refunds`,
    },
    review: null,
    shipping: null,
    source_transfer: null,
    statement_descriptor: intent.statement_descriptor,
    statement_descriptor_suffix: intent.statement_descriptor_suffix,
    status: failure ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: intent.transfer_group,
  };
}

export function newRefund(p: {
  charge: Charge;
  amount: number;
  reason: Refund['reason'];
  metadata: Record<string, string>;
  created: number;
}): Refund {
  return {
    id: stripeId('re'),
    object: 'refund',
    amount: p.amount,
    balance_transaction: stripeId('txn'),
    charge: p.charge.id,
    created: p.created,
    currency: p.charge.currency,
    destination_details: {
      card: {
        reference_status: 'pending',
        reference_type: 'acquirer_reference_number',
        type: 'refund',
      },
      type: 'card',
    },
    metadata: p.metadata,
    payment_intent: p.charge.payment_intent,
    reason: p.reason,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
}

export function cardError(
  decline: { code: string; declineCode: string; message: string },
  chargeId: string | undefined,
  paymentMethod: PaymentMethod,
): StripeErrorObject {
  const error: StripeErrorObject = {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.declineCode,
    doc_url: `https://stripe.com/docs/error-codes/${decline.code.replace(/_/g, '-')}`,
    message: decline.message,
    payment_method: paymentMethod,
  };
  if (chargeId) error.charge = chargeId;
  return error;
}
