import { randomBytes } from 'node:crypto';

// Crockford base32 in lower case: its characters sort in the same order as their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const WEBHOOK_EVENT_ID_PATTERN = /^evt_[0-9a-hjkmnp-tv-z]{26}$/;

/**
 * Our id of a stored webhook event: `evt_` + 10 characters of milliseconds
 * + 16 random characters (80 bits), so ids sort by the time they were made.
 */
export function newWebhookEventId(now: Date): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  const bytes = randomBytes(10);
  let tail = '';
  // 10 bytes = 80 bits = 16 groups of 5 bits.
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      tail += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return `evt_${head}${tail}`;
}
