import { randomBytes, randomInt } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62, the alphabet of Stripe's ids. */
export function randomAlphanumeric(length: number): string {
  let out = '';
  for (const byte of randomBytes(length * 2)) {
    // 248 = 4 × 62: skip the tail bytes so every character is equally likely.
    if (byte < 248) out += ALPHABET[byte % 62];
    if (out.length === length) return out;
  }
  while (out.length < length) out += ALPHABET[randomInt(62)];
  return out;
}

/** `pi_3Qx…`: a prefix and 24 base62 characters, like Stripe's own ids. */
export function stripeId(prefix: string): string {
  return `${prefix}_${randomAlphanumeric(24)}`;
}

export function requestId(): string {
  return `req_${randomAlphanumeric(14)}`;
}
