import fc from 'fast-check';
import {
  deriveEmailStatus,
  ENGAGEMENT_EVENTS,
  RECIPIENT_STATUSES,
  recipientRank,
  statusForEvent,
  type RecipientStatus,
} from './email-status';

describe(deriveEmailStatus.name, () => {
  it.each<[RecipientStatus[], boolean, string]>([
    [['queued'], false, 'queued'],
    [['queued', 'queued'], true, 'failed'],
    [['sent', 'processed'], false, 'sent'],
    [['processed', 'delivered'], false, 'processed'],
    [['deferred', 'bounced'], false, 'deferred'],
    [['delivered', 'delivered'], false, 'delivered'],
    [['bounced'], false, 'bounced'],
    [['dropped', 'dropped'], false, 'dropped'],
    [['delivered', 'bounced'], false, 'partially_delivered'],
    [['dropped', 'bounced'], false, 'partially_delivered'],
    [['processed', 'processed'], true, 'processed'],
  ])('%j (failed: %s) is %s', (recipients, failed, expected) => {
    expect(deriveEmailStatus(recipients, failed)).toBe(expected);
  });

  it('is the lowest recipient status while any is not final, whatever the order', () => {
    const status = fc.constantFrom(...RECIPIENT_STATUSES);
    fc.assert(
      fc.property(fc.array(status, { minLength: 1, maxLength: 8 }), (recipients) => {
        const lowest = Math.min(...recipients.map(recipientRank));
        const derived = deriveEmailStatus(recipients, false);
        if (lowest < 4) expect(recipientRank(derived as RecipientStatus)).toBe(lowest);
        expect(deriveEmailStatus([...recipients].reverse(), false)).toBe(derived);
        expect(deriveEmailStatus([...new Set(recipients)], false)).toBe(derived);
      }),
    );
  });
});

describe(statusForEvent.name, () => {
  it('maps delivery events, and nothing else', () => {
    expect(statusForEvent('processed')).toBe('processed');
    expect(statusForEvent('deferred')).toBe('deferred');
    expect(statusForEvent('delivered')).toBe('delivered');
    expect(statusForEvent('bounce')).toBe('bounced');
    expect(statusForEvent('dropped')).toBe('dropped');
    for (const type of [...ENGAGEMENT_EVENTS, 'machine_opened', 'constructor', '__proto__']) {
      expect(statusForEvent(type)).toBeUndefined();
    }
  });
});
