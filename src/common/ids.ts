import { randomBytes } from 'node:crypto';

// Crockford base32 in lower case: its characters sort in the same order as their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Prefixes of our ids (CONTRACT §2). */
export type IdPrefix = 'pay' | 'ref' | 'sms' | 'eml' | 'evt' | 'job';

/**
 * `<prefix>_` + 10 characters of milliseconds + 16 random characters (80 bits):
 * ids sort by the time they were made, and never collide in practice.
 */
export function newId(prefix: IdPrefix, now: Date): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  // One character from the low 5 bits of each of 16 bytes: 80 random bits.
  for (const byte of randomBytes(16)) tail += ALPHABET[byte & 31];
  return `${prefix}_${head}${tail}`;
}

/** Matches exactly the ids {@link newId} makes for `prefix`. */
export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`);
}
