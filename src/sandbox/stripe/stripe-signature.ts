import { createHmac } from 'node:crypto';

/**
 * The `Stripe-Signature` header exactly as Stripe makes it
 * (https://docs.stripe.com/webhooks#verify-manually): `t=<unix seconds>,v1=<hex>`
 * where v1 is HMAC-SHA256 keyed with the endpoint secret (the whole `whsec_…`
 * string) over `<t>.<raw body>`.
 */
export function stripeSignatureHeader(secret: string, payload: string, timestamp: number): string {
  const signature = createHmac('sha256', secret)
    .update(`${timestamp}.${payload}`, 'utf8')
    .digest('hex');
  return `t=${timestamp},v1=${signature}`;
}
