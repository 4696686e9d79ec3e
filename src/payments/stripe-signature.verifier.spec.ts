import Stripe from 'stripe';
import { verifyStripeSignature } from './stripe-signature.verifier';

const SECRET = 'whsec_unitTestSecret000000000000000';
const NOW = 1_900_000_000;
const body = Buffer.from('{"id":"evt_1","object":"event"}');

/** The `v1` signature Stripe's own helper makes for `payload` at `t`. */
const sign = (payload: Buffer, t: number, secret = SECRET): string => {
  const signed = Stripe.webhooks.generateTestHeaderString({
    payload: payload.toString('utf8'),
    secret,
    timestamp: t,
  });
  const v1 = /(?:^|,)v1=([0-9a-f]{64})(?:,|$)/.exec(signed)?.[1];
  if (!v1) throw new Error(`no v1 signature in ${signed}`);
  return v1;
};
const header = (t: number, ...signatures: string[]): string =>
  [`t=${t}`, ...signatures.map((s) => `v1=${s}`)].join(',');
const verify = (h: string | undefined, secrets = [SECRET], tolerance = 300) =>
  verifyStripeSignature(body, h, secrets, tolerance, NOW);

describe(verifyStripeSignature.name, () => {
  it('accepts a signature by any configured secret', () => {
    expect(verify(header(NOW, sign(body, NOW)))).toEqual({ ok: true, timestamp: NOW });
    const rotated = 'whsec_next000000000000000000000000';
    expect(verify(header(NOW, sign(body, NOW, rotated)), [SECRET, rotated]).ok).toBe(true);
  });

  it('accepts a header with extra schemes, spaces and several v1 signatures', () => {
    const h = ` t=${NOW}, v0=${'f'.repeat(64)}, v1=${'0'.repeat(64)}, v1=${sign(body, NOW)}`;
    expect(verify(h).ok).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['no timestamp', `v1=${sign(body, NOW)}`],
    ['a non-numeric timestamp', `t=soon,v1=${sign(body, NOW)}`],
    ['two timestamps', `t=${NOW},t=${NOW},v1=${sign(body, NOW)}`],
    ['no v1', `t=${NOW},v0=${sign(body, NOW)}`],
    ['a short v1', `t=${NOW},v1=${sign(body, NOW).slice(2)}`],
    ['a wrong secret', header(NOW, sign(body, NOW, 'whsec_other'))],
    ['a signature of another timestamp', header(NOW, sign(body, NOW - 1))],
    ['a signature of another body', header(NOW, sign(Buffer.from('{}'), NOW))],
  ])('refuses %s', (_name, h) => {
    expect(verify(h).ok).toBe(false);
  });

  it('refuses timestamps beyond the tolerance in the past and in the future', () => {
    for (const t of [NOW - 301, NOW + 301])
      expect(verify(header(t, sign(body, t)))).toEqual({
        ok: false,
        reason: 'the Stripe-Signature timestamp is outside the tolerance',
      });
    for (const t of [NOW - 300, NOW + 300]) expect(verify(header(t, sign(body, t))).ok).toBe(true);
  });

  it('refuses everything when no secret is configured', () => {
    expect(verify(header(NOW, sign(body, NOW)), []).ok).toBe(false);
  });
});
