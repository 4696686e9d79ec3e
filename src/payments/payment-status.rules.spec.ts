import { decideIntentUpdate, shouldApplyRefundStatus } from './payment-status.rules';
import { CREATING, type PaymentStatus, type PaymentsTable } from './payments.tables';

const T = 1_900_000_000;
const row = (
  status: PaymentsTable['status'],
  asOf = T,
  providerId: string | null = 'pi_1',
): Pick<PaymentsTable, 'status' | 'status_as_of' | 'provider_id'> => ({
  status,
  status_as_of: asOf,
  provider_id: providerId,
});
const intent = (status: PaymentStatus, id = 'pi_1') =>
  ({ id, status }) as Parameters<typeof decideIntentUpdate>[1];

describe(decideIntentUpdate.name, () => {
  it('never changes a succeeded or canceled payment', () => {
    for (const status of ['succeeded', 'canceled'] as const) {
      expect(
        decideIntentUpdate(row(status), intent('requires_payment_method'), T + 100, 'fresh'),
      ).toBe('ignore');
      expect(decideIntentUpdate(row(status), intent('succeeded'), T + 100, 'event')).toBe('ignore');
    }
  });

  it('applies a final status whatever its time', () => {
    expect(decideIntentUpdate(row('requires_action'), intent('succeeded'), T - 100, 'event')).toBe(
      'apply',
    );
    expect(decideIntentUpdate(row('processing'), intent('canceled'), T, 'event')).toBe('apply');
  });

  it('follows the newest state by Stripe time', () => {
    expect(decideIntentUpdate(row('requires_action'), intent('processing'), T + 1, 'event')).toBe(
      'apply',
    );
    expect(decideIntentUpdate(row('processing'), intent('requires_action'), T - 1, 'event')).toBe(
      'ignore',
    );
    expect(decideIntentUpdate(row('processing'), intent('requires_action'), T - 1, 'fresh')).toBe(
      'ignore',
    );
  });

  it('re-reads Stripe for a disagreeing event from the same second; a fresh read wins', () => {
    expect(decideIntentUpdate(row('requires_action'), intent('processing'), T, 'event')).toBe(
      'reread',
    );
    expect(decideIntentUpdate(row('requires_action'), intent('requires_action'), T, 'event')).toBe(
      'ignore',
    );
    expect(decideIntentUpdate(row('requires_action'), intent('processing'), T, 'fresh')).toBe(
      'apply',
    );
  });

  it('links a row still being created, and ignores another PaymentIntent', () => {
    expect(
      decideIntentUpdate(row(CREATING, 0, null), intent('requires_payment_method'), 5, 'event'),
    ).toBe('apply');
    expect(decideIntentUpdate(row('processing'), intent('succeeded', 'pi_2'), T + 5, 'fresh')).toBe(
      'ignore',
    );
  });
});

describe(shouldApplyRefundStatus.name, () => {
  it.each([
    [CREATING, 'pending', true],
    [CREATING, 'succeeded', true],
    ['pending', 'succeeded', true],
    ['succeeded', 'failed', true],
    ['pending', 'requires_action', true],
    ['succeeded', 'pending', false],
    ['failed', 'succeeded', false],
    ['canceled', 'pending', false],
    ['succeeded', 'succeeded', false],
  ] as const)('%s → %s: %s', (current, incoming, expected) => {
    expect(shouldApplyRefundStatus(current, incoming)).toBe(expected);
  });
});
