import { randomBytes } from 'node:crypto';

// Crockford base32 in lower case: its characters sort in the order of their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const EMAIL_ID_PATTERN = /^eml_[0-9a-hjkmnp-tv-z]{26}$/;

/** `eml_` + 10 characters of milliseconds + 16 random characters (80 bits): ids sort by creation time. */
export function newEmailId(now: Date): string {
  let time = now.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  // One character from the low 5 bits of each of 16 bytes: 80 random bits.
  for (const byte of randomBytes(16)) tail += ALPHABET[byte & 31];
  return `eml_${head}${tail}`;
}

/**
 * The custom arg that carries our email id: SendGrid copies custom args into
 * every event about the message, so events find their email even before the
 * send's `X-Message-Id` is recorded.
 */
export const EMAIL_ID_CUSTOM_ARG = 'switchboard_email_id';
