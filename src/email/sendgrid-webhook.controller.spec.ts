import { AppError } from '../common/errors/app-error';
import { sendgridEventId, toInboxEvents } from './sendgrid-webhook.controller';

describe(toInboxEvents.name, () => {
  it('keeps every event of the batch under its sg_event_id and type', () => {
    const batch = [
      { event: 'processed', sg_event_id: 'a1', email: 'a@x.test' },
      { event: 'machine_opened', sg_event_id: 'b2' },
    ];
    expect(toInboxEvents(batch)).toEqual([
      { eventId: 'a1', type: 'processed', payload: batch[0] },
      { eventId: 'b2', type: 'machine_opened', payload: batch[1] },
    ]);
    expect(toInboxEvents([])).toEqual([]);
  });

  it.each([
    { event: 'delivered' },
    'text',
    null,
    [42],
    [{ sg_event_id: 'x' }],
    [{ event: '' }],
    [{ event: 7 }],
  ])('refuses %j with validation_failed', (body) => {
    let error: unknown;
    try {
      toInboxEvents(body);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('validation_failed');
  });
});

describe(sendgridEventId.name, () => {
  it('hashes an event without a usable sg_event_id, the same event to the same id', () => {
    const event = { event: 'open', email: 'a@x.test', timestamp: 1 };
    const id = sendgridEventId(event);
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(sendgridEventId({ ...event })).toBe(id);
    expect(sendgridEventId({ ...event, timestamp: 2 })).not.toBe(id);
    expect(sendgridEventId({ ...event, sg_event_id: '' })).toMatch(/^sha256:/);
    expect(sendgridEventId({ ...event, sg_event_id: 'x'.repeat(256) })).toMatch(/^sha256:/);
  });
});
