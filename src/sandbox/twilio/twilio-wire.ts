import { createHmac, randomBytes } from 'node:crypto';

/**
 * Pure pieces of Twilio's wire format, kept apart from the stateful emulator so
 * they can be unit-tested on their own. Built from Twilio's docs, never from
 * our own SMS module (DESIGN.md: the sandbox must sign on its own).
 */

export const TWILIO_API_VERSION = '2010-04-01';

/** Twilio's error JSON (`more_info` always points at the code's doc page). */
export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

export function twilioError(status: number, code: number, message: string): TwilioErrorBody {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/**
 * Twilio's date format: RFC 2822 in GMT with a numeric zone,
 * e.g. `Thu, 24 Aug 2023 05:01:45 +0000` (the SDK parses exactly that pattern).
 */
export function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** `SM` (or `MM` for media) + 32 lowercase hex digits, like Twilio's SIDs. */
export function newSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/**
 * `X-Twilio-Signature`: base64 HMAC-SHA1 keyed by the auth token over the full
 * URL followed by each POST param's name and value, sorted by name.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string>,
): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

// GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';
const GSM_BASIC_SET = new Set(GSM_BASIC);
const GSM_EXTENSION_SET = new Set(GSM_EXTENSION);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

/**
 * How many SMS segments a body needs: GSM-7 fits 160 septets in one segment
 * and 153 per segment when concatenated; anything outside GSM-7 switches the
 * whole body to UCS-2 (70 / 67 UTF-16 units). A two-unit character (GSM
 * escape pair, UTF-16 surrogate pair) is never split across segments.
 */
export function countSegments(body: string): { encoding: SmsEncoding; segments: number } {
  const chars = [...body];
  const gsm = chars.every((c) => GSM_BASIC_SET.has(c) || GSM_EXTENSION_SET.has(c));
  const encoding: SmsEncoding = gsm ? 'GSM-7' : 'UCS-2';
  const widths = chars.map((c) => (gsm ? (GSM_EXTENSION_SET.has(c) ? 2 : 1) : c.length));
  const total = widths.reduce((a, b) => a + b, 0);
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  if (total <= single) return { encoding, segments: 1 };
  let segments = 1;
  let used = 0;
  for (const w of widths) {
    if (used + w > multi) {
      segments += 1;
      used = 0;
    }
    used += w;
  }
  return { encoding, segments };
}

/** E.164 (`+`, 7–15 digits, the first not 0), optionally behind a channel prefix. */
export function isValidAddress(value: string): boolean {
  return /^(?:whatsapp:)?\+[1-9]\d{6,14}$/.test(value);
}

/** Decode a form body; repeated names (`MediaUrl`) keep every value in order. */
export function parseForm(raw: Buffer | string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of new URLSearchParams(typeof raw === 'string' ? raw : raw.toString('utf-8'))) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/** `Authorization: Basic base64(user:pass)` → the pair, or null when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; pass: string } | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf-8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}
