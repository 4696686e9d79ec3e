import { createHmac } from 'node:crypto';

/**
 * A `payment_intent.succeeded` event of about 2 KB, pretty-printed as Stripe
 * sends it (DESIGN.md's baselines use a 2 KB event); `n` makes its ids distinct.
 */
export function stripeEventBody(n: number, created: number): string {
  const suffix = String(n).padStart(10, '0');
  const intent = {
    id: `pi_bench${suffix}`,
    object: 'payment_intent',
    amount: 2500,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: 2500,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: { allow_redirects: 'never', enabled: true },
    canceled_at: null,
    cancellation_reason: null,
    capture_method: 'automatic_async',
    client_secret: `pi_bench${suffix}_secret_benchmarkBenchmarkBench`,
    confirmation_method: 'automatic',
    created,
    currency: 'usd',
    customer: null,
    description: 'Benchmark order',
    last_payment_error: null,
    latest_charge: `ch_bench${suffix}`,
    livemode: false,
    metadata: { orderId: `order-${suffix}`, source: 'bench' },
    next_action: null,
    on_behalf_of: null,
    payment_method: `pm_bench${suffix}`,
    payment_method_configuration_details: null,
    payment_method_options: {
      card: {
        installments: null,
        mandate_options: null,
        network: null,
        request_three_d_secure: 'automatic',
      },
    },
    payment_method_types: ['card'],
    processing: null,
    receipt_email: null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
  const event = {
    id: `evt_bench${suffix}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created,
    data: { object: intent },
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_bench${suffix}`, idempotency_key: `bench-${suffix}` },
    type: 'payment_intent.succeeded',
  };
  return JSON.stringify(event, null, 2);
}

/** `Stripe-Signature` as Stripe makes it: HMAC-SHA256 of `<t>.<body>` keyed with the whole `whsec_…` secret. */
export function stripeSignature(secret: string, body: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}
