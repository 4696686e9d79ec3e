import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

/**
 * SendGrid's Signed Event Webhook: an ECDSA P-256 / SHA-256 signature over
 * `timestamp + rawBody`, DER-encoded and base64'd, sent with the timestamp
 * (unix seconds) in two headers. The verification key SendGrid shows is the
 * base64 DER (SPKI) public key.
 */

export const EVENT_WEBHOOK_SIGNATURE_HEADER = 'X-Twilio-Email-Event-Webhook-Signature';
export const EVENT_WEBHOOK_TIMESTAMP_HEADER = 'X-Twilio-Email-Event-Webhook-Timestamp';

/** SendGrid terminates the JSON array with CRLF, and the signature covers it. */
export const EVENT_BATCH_TERMINATOR = '\r\n';

export function generateEventWebhookKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/** Throws unless `key` is an ECDSA P-256 private key. */
export function assertP256PrivateKey(key: KeyObject): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new TypeError(
      'SendGrid emulator: privateKey must be an ECDSA P-256 (prime256v1) private key',
    );
  }
}

export function publicKeyBase64(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64');
}

export function serializeEventBatch(events: readonly object[]): string {
  return JSON.stringify(events) + EVENT_BATCH_TERMINATOR;
}

/** The two signature headers for `body` sent at `timestamp` (unix seconds). */
export function signEventBatch(
  body: string,
  timestamp: number,
  privateKey: KeyObject,
): Record<string, string> {
  const ts = String(timestamp);
  // node:crypto emits a DER (ASN.1) ECDSA signature by default, as SendGrid does.
  const signature = sign('sha256', Buffer.from(ts + body, 'utf8'), privateKey).toString('base64');
  return { [EVENT_WEBHOOK_SIGNATURE_HEADER]: signature, [EVENT_WEBHOOK_TIMESTAMP_HEADER]: ts };
}
