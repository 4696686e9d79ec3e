import { EventWebhook } from '@sendgrid/eventwebhook';
import fc from 'fast-check';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { parseSendgridTimestamp, SendgridSignatureVerifier } from './sendgrid-signature.verifier';

/** A P-256 key pair made here, as SendGrid's dashboard would show the public half. */
function keyPair(): { privateKey: KeyObject; publicKey: string; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

const signed = (privateKey: KeyObject, timestamp: string, body: string): string =>
  sign('sha256', Buffer.from(timestamp + body, 'utf8'), privateKey).toString('base64');

/** `@sendgrid/eventwebhook`'s answer; it throws on input it cannot parse, which counts as "not valid". */
function sdkVerifies(
  publicKey: string,
  body: string,
  signature: string,
  timestamp: string,
): boolean {
  const sdk = new EventWebhook();
  try {
    return sdk.verifySignature(sdk.convertPublicKeyToECDSA(publicKey), body, signature, timestamp);
  } catch {
    return false;
  }
}

describe(SendgridSignatureVerifier.name, () => {
  const mine = keyPair();
  const other = keyPair();
  const sut = SendgridSignatureVerifier.fromPublicKey(mine.publicKey)!;

  const eventBody = fc
    .array(
      fc.record({
        email: fc.emailAddress(),
        event: fc.constantFrom('processed', 'delivered', 'bounce', 'open'),
        timestamp: fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }),
        sg_event_id: fc.base64String({ minLength: 4, maxLength: 24 }),
        note: fc.string({ unit: 'grapheme', maxLength: 20 }),
      }),
      { minLength: 1, maxLength: 5 },
    )
    .map((events) => `${JSON.stringify(events)}\r\n`);
  const timestamp = fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }).map(String);

  it('agrees with @sendgrid/eventwebhook on valid, tampered and wrong-key batches', () => {
    fc.assert(
      fc.property(eventBody, timestamp, fc.nat(), (body, ts, where) => {
        const signature = signed(mine.privateKey, ts, body);
        const i = where % body.length;
        const tampered = body.slice(0, i) + (body[i] === 'x' ? 'y' : 'x') + body.slice(i + 1);
        const foreign = signed(other.privateKey, ts, body);

        expect(sut.verify(Buffer.from(body), signature, ts)).toBe(true);
        expect(sdkVerifies(mine.publicKey, body, signature, ts)).toBe(true);

        expect(sut.verify(Buffer.from(tampered), signature, ts)).toBe(false);
        expect(sdkVerifies(mine.publicKey, tampered, signature, ts)).toBe(false);

        expect(sut.verify(body, foreign, ts)).toBe(false);
        expect(sdkVerifies(mine.publicKey, body, foreign, ts)).toBe(false);
        // The other key does verify its own signature: "wrong key", not "broken signature".
        expect(sdkVerifies(other.publicKey, body, foreign, ts)).toBe(true);
        expect(
          SendgridSignatureVerifier.fromPublicKey(other.publicKey)?.verify(body, foreign, ts),
        ).toBe(true);
      }),
      { numRuns: 15 },
    );
  });

  it('covers the timestamp and the trailing CRLF', () => {
    const body = '[{"event":"delivered"}]\r\n';
    const signature = signed(mine.privateKey, '1700000000', body);
    for (const [b, ts] of [
      [body, '1700000001'],
      [body.trimEnd(), '1700000000'],
    ]) {
      expect(sut.verify(b, signature, ts)).toBe(false);
      expect(sdkVerifies(mine.publicKey, b, signature, ts)).toBe(false);
    }
    expect(sut.verify(body, signature, '1700000000')).toBe(true);
  });

  it('answers false, never throws, for malformed signatures the SDK throws on', () => {
    const body = '[]\r\n';
    const sdk = new EventWebhook();
    const key = sdk.convertPublicKeyToECDSA(mine.publicKey);
    const malformed = [
      '',
      'not base64!',
      'AAAA',
      Buffer.alloc(64, 7).toString('base64'),
      `MEUCIQ${'A'.repeat(90)}`,
    ];
    for (const signature of malformed) {
      expect(sut.verify(body, signature, '1700000000')).toBe(false);
    }
    expect(() => sdk.verifySignature(key, body, 'AAAA', '1700000000')).toThrow();
    fc.assert(
      fc.property(fc.string(), fc.string(), (signature, ts) => {
        expect(sut.verify(body, signature, ts)).toBe(false);
      }),
    );
  });

  it('accepts the key as base64 DER or PEM, and refuses anything but an ECDSA P-256 public key without throwing', () => {
    const body = '[]\r\n';
    const signature = signed(mine.privateKey, '1700000000', body);
    expect(
      SendgridSignatureVerifier.fromPublicKey(mine.pem)?.verify(body, signature, '1700000000'),
    ).toBe(true);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    const refused = [
      '',
      'not a key',
      'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE',
      `-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----`,
      ...[p384, rsa, ed].map((k) => k.export({ format: 'der', type: 'spki' }).toString('base64')),
    ];
    for (const key of refused) expect(SendgridSignatureVerifier.fromPublicKey(key)).toBeUndefined();
  });
});

describe(parseSendgridTimestamp.name, () => {
  it('reads plain unix seconds only', () => {
    expect(parseSendgridTimestamp('1700000000')).toBe(1_700_000_000);
    for (const bad of ['', ' 1', '1.5', '-1', '1e9', '0x10', '1234567890123']) {
      expect(parseSendgridTimestamp(bad)).toBeUndefined();
    }
  });
});
