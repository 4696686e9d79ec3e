import fc from 'fast-check';
import { maskAll, maskDeep, maskString } from './mask';

/** Pieces that the patterns look for, mixed with ordinary text. */
const PIECES = [
  'a',
  'Z',
  '7',
  '0',
  '_',
  '.',
  '-',
  '/',
  ' ',
  '=',
  '@',
  '+',
  '%',
  '%2B',
  '%40',
  'example.com',
  'sk_',
  'rk_',
  'pk_',
  'test_',
  'live_',
  'whsec_',
  'SG.',
  'pi_',
  '_secret_',
  'sb_dev_',
  '1555123',
];

describe(maskString.name, () => {
  it('masks phone numbers, email addresses and credentials', () => {
    expect(maskString('call +15551234567 now')).toBe('call +*******4567 now');
    expect(maskString('to=%2B15551234567')).toBe('to=%2B*******4567');
    expect(maskString('jane.doe@example.com')).toBe('j***@example.com');
    expect(maskString('/x/jane%40example.com')).toBe('/x/j***%40example.com');
    expect(maskString('key sk_test_abc123 and whsec_xyz')).toBe('key [REDACTED] and [REDACTED]');
    expect(maskString('SG.abc.def')).toBe('[REDACTED]');
    expect(maskString('pi_123_secret_456')).toBe('[REDACTED]');
  });

  it('leaves values with nothing to mask as they are', () => {
    for (const value of ['evt_0123abc', 'payment_intent.succeeded', 'queued', '/webhooks/stripe'])
      expect(maskString(value)).toBe(value);
  });

  it('masks exactly what every replacement would: its shortcut never skips a match', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 24 }), (pieces) => {
        const value = pieces.join('');
        expect(maskString(value)).toBe(maskAll(value));
      }),
      { numRuns: 2000 },
    );
  });
});

describe(maskDeep.name, () => {
  it('masks nested strings and redacts sensitive keys', () => {
    expect(
      maskDeep({ to: '+15551234567', nested: { email: 'jo@example.com' }, authorization: 'x' }),
    ).toEqual({
      to: '+*******4567',
      nested: { email: 'j***@example.com' },
      authorization: '[REDACTED]',
    });
  });
});
