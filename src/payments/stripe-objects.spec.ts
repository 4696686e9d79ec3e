import { paymentFailureMessage } from './provider-error';
import { readChargeRefunds, readEvent, readIntent, readRefund } from './stripe-objects';

const pi = {
  id: 'pi_1',
  object: 'payment_intent',
  status: 'requires_payment_method',
  amount: 2500,
  currency: 'usd',
  client_secret: 'pi_1_secret_abc',
  last_payment_error: {
    type: 'card_error',
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
};

describe(readIntent.name, () => {
  it('reads what we use, never the message', () => {
    expect(readIntent(pi)).toEqual({
      id: 'pi_1',
      status: 'requires_payment_method',
      amount: 2500,
      currency: 'usd',
      clientSecret: 'pi_1_secret_abc',
      lastError: { code: 'card_declined', declineCode: 'insufficient_funds' },
    });
  });

  it.each([
    ['another object', { ...pi, object: 'charge' }],
    ['an unknown status', { ...pi, status: 'teleported' }],
    ['no amount', { ...pi, amount: undefined }],
    ['not an object', 'pi_1'],
  ])('refuses %s', (_name, value) => {
    expect(readIntent(value)).toBeUndefined();
  });
});

describe(readRefund.name, () => {
  it('reads an expanded or plain payment_intent', () => {
    const refund = {
      id: 're_1',
      object: 'refund',
      amount: 500,
      status: 'succeeded',
      reason: null,
      payment_intent: 'pi_1',
    };
    expect(readRefund(refund)).toEqual({
      id: 're_1',
      paymentIntentId: 'pi_1',
      amount: 500,
      status: 'succeeded',
      reason: null,
    });
    expect(readRefund({ ...refund, payment_intent: { id: 'pi_2' } })?.paymentIntentId).toBe('pi_2');
  });
});

describe(readChargeRefunds.name, () => {
  it('lists the readable refunds of a charge', () => {
    const charge = {
      object: 'charge',
      payment_intent: 'pi_1',
      refunds: {
        data: [
          { id: 're_1', object: 'refund', amount: 5, status: 'pending', payment_intent: 'pi_1' },
          { junk: true },
        ],
      },
    };
    expect(readChargeRefunds(charge)).toEqual({
      paymentIntentId: 'pi_1',
      refunds: [
        { id: 're_1', paymentIntentId: 'pi_1', amount: 5, status: 'pending', reason: null },
      ],
    });
  });
});

describe(readEvent.name, () => {
  it('reads the envelope and the key of the request that caused it', () => {
    const event = {
      id: 'evt_1',
      object: 'event',
      type: 'payment_intent.created',
      created: 5,
      data: { object: pi },
      request: { id: 'req_1', idempotency_key: 'k1' },
    };
    expect(readEvent(event)).toEqual({
      id: 'evt_1',
      type: 'payment_intent.created',
      created: 5,
      object: pi,
      requestIdempotencyKey: 'k1',
    });
    expect(readEvent({ ...event, request: null })?.requestIdempotencyKey).toBeNull();
    expect(readEvent({ ...event, created: 'yesterday' })).toBeUndefined();
  });
});

describe(paymentFailureMessage.name, () => {
  it('words failures itself and hides why a card was flagged', () => {
    expect(paymentFailureMessage('card_declined', 'insufficient_funds')).toBe(
      'the card has insufficient funds',
    );
    expect(paymentFailureMessage('card_declined', 'stolen_card')).toBe('the card was declined');
    expect(paymentFailureMessage('expired_card', 'expired_card')).toBe('the card has expired');
    expect(paymentFailureMessage('something_new', null)).toBe('the payment attempt failed');
  });
});
