import { createPublicKey, createVerify, type KeyObject } from 'node:crypto';

export const SENDGRID_SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const SENDGRID_TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const TIMESTAMP = /^\d{1,12}$/;
// A DER ECDSA P-256 signature is SEQUENCE { INTEGER r, INTEGER s }: 8 to 72 bytes.
const MIN_SIGNATURE_BYTES = 8;
const MAX_SIGNATURE_BYTES = 72;

/** The key as SendGrid shows it (base64 DER SPKI) or PEM; undefined unless it is an ECDSA P-256 public key. */
export function parseSendgridPublicKey(value: string): KeyObject | undefined {
  try {
    const trimmed = value.trim();
    const key = trimmed.includes('-----BEGIN')
      ? createPublicKey(trimmed)
      : BASE64.test(trimmed)
        ? createPublicKey({ key: Buffer.from(trimmed, 'base64'), format: 'der', type: 'spki' })
        : undefined;
    if (key?.asymmetricKeyType !== 'ec') return undefined;
    return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** The unix-seconds timestamp header as a number; undefined unless it is plain digits. */
export function parseSendgridTimestamp(value: string): number | undefined {
  return TIMESTAMP.test(value) ? Number(value) : undefined;
}

/**
 * Verifies SendGrid's Signed Event Webhook: ECDSA P-256 / SHA-256 over the
 * timestamp header followed by the raw body, exactly as received (SendGrid's
 * trailing CRLF included). node:crypto does in native code what
 * `@sendgrid/eventwebhook` does in pure JS, some 50× faster, and this never
 * throws: a malformed signature or key is simply not valid. The timestamp's
 * age is the caller's business (neither SendGrid's SDK nor this checks it).
 */
export class SendgridSignatureVerifier {
  private constructor(private readonly key: KeyObject) {}

  /** Undefined when `publicKey` is not a usable ECDSA P-256 key (base64 DER SPKI or PEM). */
  static fromPublicKey(publicKey: string): SendgridSignatureVerifier | undefined {
    const key = parseSendgridPublicKey(publicKey);
    return key && new SendgridSignatureVerifier(key);
  }

  verify(payload: Buffer | string, signature: string, timestamp: string): boolean {
    if (typeof signature !== 'string' || typeof timestamp !== 'string') return false;
    if (!TIMESTAMP.test(timestamp) || !BASE64.test(signature)) return false;
    const der = Buffer.from(signature, 'base64');
    if (der.length < MIN_SIGNATURE_BYTES || der.length > MAX_SIGNATURE_BYTES || der[0] !== 0x30) {
      return false;
    }
    try {
      // Two updates instead of concatenating: the body is not copied.
      return createVerify('sha256')
        .update(timestamp)
        .update(payload)
        .verify({ key: this.key, dsaEncoding: 'der' }, der);
    } catch {
      return false;
    }
  }
}
