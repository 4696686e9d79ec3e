import fc from 'fast-check';
import {
  forward,
  fromTwilioStatus,
  isFinal,
  rankOf,
  SMS_STATUSES,
  statusesBelow,
} from './sms-status';

describe('sms status', () => {
  it.each([
    ['accepted', 'queued'],
    ['scheduled', 'queued'],
    ['queued', 'queued'],
    ['sending', 'sending'],
    ['sent', 'sent'],
    ['delivered', 'delivered'],
    ['read', 'delivered'],
    ['undelivered', 'undelivered'],
    ['failed', 'failed'],
    ['canceled', 'failed'],
    ['receiving', undefined],
    ['partially_delivered', undefined],
    ['something_new', undefined],
  ])('maps Twilio %s to %s', (twilioStatus, ours) => {
    expect(fromTwilioStatus(twilioStatus)).toBe(ours);
  });

  it('ranks queued < sending < sent < the terminal statuses', () => {
    expect(rankOf('queued')).toBeLessThan(rankOf('sending'));
    expect(rankOf('sending')).toBeLessThan(rankOf('sent'));
    for (const s of ['delivered', 'undelivered', 'failed'] as const) {
      expect(rankOf('sent')).toBeLessThan(rankOf(s));
      expect(isFinal(s)).toBe(true);
    }
    expect(statusesBelow('queued')).toEqual([]);
    expect(statusesBelow('delivered')).toEqual(['queued', 'sending', 'sent']);
  });

  it('never moves backwards, and a terminal status never changes, whatever order callbacks come in', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SMS_STATUSES),
        fc.array(fc.constantFrom(...SMS_STATUSES)),
        (start, updates) => {
          let status = start;
          for (const next of updates) {
            const moved = forward(status, next);
            expect(rankOf(moved)).toBeGreaterThanOrEqual(rankOf(status));
            if (isFinal(status)) expect(moved).toBe(status);
            status = moved;
          }
        },
      ),
    );
  });
});
