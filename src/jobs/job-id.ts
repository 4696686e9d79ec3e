import { randomBytes } from 'node:crypto';

// Crockford base32, lower case: its characters sort in the order of their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const JOB_ID_PATTERN = /^job_[0-9a-hjkmnp-tv-z]{26}$/;

/** `job_` + 10 characters of milliseconds + 16 random characters (80 bits): ids sort by creation time. */
export function newJobId(now: Date): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  // 16 bytes, one character from the low 5 bits of each: 80 random bits.
  for (const byte of randomBytes(16)) tail += ALPHABET[byte & 31];
  return `job_${head}${tail}`;
}
