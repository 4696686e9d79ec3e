import { randomFillSync } from 'node:crypto';

// Crockford base32 in lower case: its characters sort in the same order as their values.
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Prefixes of our ids (CONTRACT §2). */
export type IdPrefix = 'pay' | 'ref' | 'sms' | 'eml' | 'evt' | 'job';

/** Random bytes drawn from the OS in blocks: one call per 256 ids instead of one per id. */
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

function random16(): Buffer {
  if (poolOffset + 16 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const bytes = POOL.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

/** The millisecond of the last id made, and its 16 random digits (each 0–31). */
let lastTime = -1;
const lastTail = new Uint8Array(16);

/** Adds one to the 80-bit number the digits spell; false when it overflows. */
function incrementTail(): boolean {
  for (let i = lastTail.length - 1; i >= 0; i--) {
    if (lastTail[i] < 31) {
      lastTail[i] += 1;
      return true;
    }
    lastTail[i] = 0;
  }
  return false;
}

/**
 * `<prefix>_` + 10 characters of milliseconds + 16 random characters (80 bits):
 * ids sort by the time they were made, and never collide in practice. Ids made
 * in the same millisecond by this process sort in the order they were made
 * (the random part of the previous one plus one), so rows written together in
 * one batch are listed, claimed and processed in the order they arrived.
 */
export function newId(prefix: IdPrefix, now: Date): string {
  const ms = now.getTime();
  if (ms !== lastTime || !incrementTail()) {
    // One digit from the low 5 bits of each of 16 bytes: 80 random bits.
    const bytes = random16();
    for (let i = 0; i < 16; i++) lastTail[i] = bytes[i] & 31;
    lastTime = ms;
  }
  let time = ms;
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  let tail = '';
  for (const digit of lastTail) tail += ALPHABET[digit];
  return `${prefix}_${head}${tail}`;
}

/** Matches exactly the ids {@link newId} makes for `prefix`. */
export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`);
}
