import Stripe from 'stripe';

import { stripeSignatureHeader } from './stripe-signature';

describe('stripeSignatureHeader', () => {
  const stripe = new Stripe('sk_test_unit', { telemetry: false });
  const secret = 'whsec_unit_test_secret';
  const payload = JSON.stringify({ id: 'evt_1', object: 'event' }, null, 2);

  it("matches the SDK's own test header for the same timestamp", () => {
    const timestamp = 1_700_000_000;

    const sut = stripeSignatureHeader(secret, payload, timestamp);

    expect(sut).toBe(stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }));
  });

  it('is accepted by constructEvent and rejected for another body', () => {
    const sut = stripeSignatureHeader(secret, payload, Math.floor(Date.now() / 1000));

    expect(stripe.webhooks.constructEvent(payload, sut, secret).id).toBe('evt_1');
    expect(() =>
      stripe.webhooks.constructEvent(payload.replace('evt_1', 'evt_2'), sut, secret),
    ).toThrow(Stripe.errors.StripeSignatureVerificationError);
  });
});
