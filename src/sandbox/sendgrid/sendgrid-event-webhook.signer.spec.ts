import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { EventWebhook } from '@sendgrid/eventwebhook';
import {
  EVENT_WEBHOOK_SIGNATURE_HEADER,
  EVENT_WEBHOOK_TIMESTAMP_HEADER,
  assertP256PrivateKey,
  generateEventWebhookKey,
  publicKeyBase64,
  serializeEventBatch,
  signEventBatch,
} from './sendgrid-event-webhook.signer';

describe(signEventBatch.name, () => {
  const privateKey = generateEventWebhookKey();
  const ew = new EventWebhook();
  const sdkKey = ew.convertPublicKeyToECDSA(publicKeyBase64(privateKey));
  const body = serializeEventBatch([
    { email: 'ada@example.com', event: 'processed', note: 'ünïcode ✓' },
  ]);
  const sut = signEventBatch;

  function nodeVerify(payload: string, signature: string, timestamp: string): boolean {
    const key = createPublicKey({
      key: Buffer.from(publicKeyBase64(privateKey), 'base64'),
      format: 'der',
      type: 'spki',
    });
    return verify(
      'sha256',
      Buffer.from(timestamp + payload, 'utf8'),
      key,
      Buffer.from(signature, 'base64'),
    );
  }

  it('ends the batch with CRLF, as SendGrid does', () => {
    expect(body.endsWith(']\r\n')).toBe(true);
  });

  it('sets the timestamp header to the unix seconds given', () => {
    const headers = sut(body, 1_900_000_000, privateKey);
    expect(headers[EVENT_WEBHOOK_TIMESTAMP_HEADER]).toBe('1900000000');
    expect(headers[EVENT_WEBHOOK_SIGNATURE_HEADER]).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('signs timestamp + raw body so that node:crypto and @sendgrid/eventwebhook both verify it', () => {
    const headers = sut(body, 1_900_000_000, privateKey);
    const signature = headers[EVENT_WEBHOOK_SIGNATURE_HEADER];
    const ts = headers[EVENT_WEBHOOK_TIMESTAMP_HEADER];
    expect(nodeVerify(body, signature, ts)).toBe(true);
    expect(ew.verifySignature(sdkKey, body, signature, ts)).toBe(true);
    expect(ew.verifySignature(sdkKey, Buffer.from(body, 'utf8'), signature, ts)).toBe(true);
  });

  it('covers the trailing CRLF: the SDK verifier does not strip it, so a trimmed body fails', () => {
    const headers = sut(body, 1_900_000_000, privateKey);
    const signature = headers[EVENT_WEBHOOK_SIGNATURE_HEADER];
    const ts = headers[EVENT_WEBHOOK_TIMESTAMP_HEADER];
    expect(ew.verifySignature(sdkKey, body.trimEnd(), signature, ts)).toBe(false);
    expect(nodeVerify(body.trimEnd(), signature, ts)).toBe(false);
  });

  it('fails verification when one byte of the body or the timestamp changes', () => {
    const headers = sut(body, 1_900_000_000, privateKey);
    const signature = headers[EVENT_WEBHOOK_SIGNATURE_HEADER];
    const altered = body.replace('processed', 'processeD');
    expect(ew.verifySignature(sdkKey, altered, signature, '1900000000')).toBe(false);
    expect(ew.verifySignature(sdkKey, body, signature, '1900000001')).toBe(false);
  });
});

describe(assertP256PrivateKey.name, () => {
  it('accepts a P-256 private key', () => {
    expect(() => assertP256PrivateKey(generateEventWebhookKey())).not.toThrow();
  });

  it.each([
    ['a P-384 key', generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey],
    ['an Ed25519 key', generateKeyPairSync('ed25519').privateKey],
    ['a public key', generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey],
  ])('rejects %s', (_name, key) => {
    expect(() => assertP256PrivateKey(key)).toThrow(TypeError);
  });
});

describe(publicKeyBase64.name, () => {
  it('exports base64 DER SPKI that round-trips to the same public key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = Buffer.from(publicKeyBase64(privateKey), 'base64');
    expect(der.equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });
});
