import { parseRetryAfter } from './twilio.client';
import { safeTwilioMessage } from './twilio-error';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 30 ', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});

describe('safeTwilioMessage', () => {
  it('words known codes itself and never echoes data', () => {
    expect(safeTwilioMessage(21211)).toBe('the to number is not a valid phone number');
    expect(safeTwilioMessage('30005')).toBe('the destination handset is unknown');
    expect(safeTwilioMessage(30099)).toBe(
      'the message could not be delivered (Twilio error 30099)',
    );
    expect(safeTwilioMessage(21999)).toBe('Twilio rejected the message (error 21999)');
    expect(safeTwilioMessage(undefined)).toBe('Twilio rejected the message');
  });
});
