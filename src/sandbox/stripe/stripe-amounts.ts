import { invalidRequest, paramError } from './stripe-errors';

/** Smallest chargeable amounts, in minor units (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts). */
const MINIMUM_AMOUNT: Readonly<Record<string, number>> = {
  usd: 50,
  eur: 50,
  gbp: 30,
  cad: 50,
  aud: 50,
  chf: 50,
  jpy: 50,
  nzd: 50,
  sgd: 50,
  dkk: 250,
  nok: 300,
  sek: 300,
  hkd: 400,
  mxn: 1000,
  pln: 200,
  czk: 1500,
  brl: 50,
  inr: 50,
};
const ZERO_DECIMAL = new Set(
  'bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf'.split(' '),
);
const MAXIMUM_AMOUNT = 99_999_999;

/** `$0.50`; with `withCode`, `$0.50 usd` (Stripe words some messages each way). */
export function formatAmount(amount: number, currency: string, withCode = false): string {
  const major = ZERO_DECIMAL.has(currency) ? amount : amount / 100;
  let text: string;
  try {
    text = new Intl.NumberFormat('en-US', {
      style: 'currency',
      currency: currency.toUpperCase(),
    }).format(major);
  } catch {
    // Not an ISO currency Intl knows: the bare number still reads fine.
    text = String(major);
  }
  return withCode ? `${text} ${currency}` : text;
}

/** Stripe's bounds on a PaymentIntent amount: positive, at least the currency minimum, at most 8 digits. */
export function checkAmount(amount: number, currency: string): void {
  if (amount < 1) {
    throw paramError(
      'This value must be greater than or equal to 1.',
      'amount',
      'parameter_invalid_integer',
    );
  }
  const minimum = MINIMUM_AMOUNT[currency];
  if (minimum !== undefined && amount < minimum) {
    throw invalidRequest(`Amount must be at least ${formatAmount(minimum, currency, true)}`, {
      param: 'amount',
      code: 'amount_too_small',
      beforeExecution: true,
    });
  }
  if (amount > MAXIMUM_AMOUNT) {
    throw invalidRequest(
      `Amount must be no more than ${formatAmount(MAXIMUM_AMOUNT, currency, true)}`,
      { param: 'amount', code: 'amount_too_large', beforeExecution: true },
    );
  }
}
