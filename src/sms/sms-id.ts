import { randomBytes } from 'node:crypto';

// Crockford base32, lower case: its characters sort in the order of their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const SMS_ID_PATTERN = /^sms_[0-9a-hjkmnp-tv-z]{26}$/;

/** `sms_` + 10 characters of milliseconds + 16 random characters (80 bits): ids sort by creation time. */
export function newSmsId(now: Date): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  for (const byte of randomBytes(16)) tail += ALPHABET[byte & 31];
  return `sms_${head}${tail}`;
}
