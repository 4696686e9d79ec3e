import { createHmac, timingSafeEqual } from 'node:crypto';

export type StripeSignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

const V1 = /^[0-9a-f]{64}$/;

/**
 * Verifies a `Stripe-Signature` header (https://docs.stripe.com/webhooks#verify-manually):
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=…]`, keyed with
 * the whole `whsec_…` secret. Any configured secret may match (rotation). The
 * timestamp must be within `toleranceSeconds` of now in either direction:
 * Stripe's SDK lets future timestamps through, we do not.
 */
export function verifyStripeSignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  toleranceSeconds: number,
  nowSeconds: number,
): StripeSignatureCheck {
  if (!header) return { ok: false, reason: 'the Stripe-Signature header is missing' };
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !/^\d{1,12}$/.test(value))
        return { ok: false, reason: 'the Stripe-Signature header is malformed' };
      timestamp = Number(value);
    } else if (key === 'v1' && V1.test(value)) {
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || signatures.length === 0)
    return { ok: false, reason: 'the Stripe-Signature header is malformed' };
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds)
    return { ok: false, reason: 'the Stripe-Signature timestamp is outside the tolerance' };
  const prefix = `${timestamp}.`;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(prefix).update(rawBody).digest();
    if (signatures.some((s) => timingSafeEqual(s, expected))) return { ok: true, timestamp };
  }
  return { ok: false, reason: 'no Stripe-Signature matches a configured secret' };
}
