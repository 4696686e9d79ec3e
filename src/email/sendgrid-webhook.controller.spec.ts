import { AppError } from '../common/errors/app-error';
import {
  SENDGRID_UNREADABLE_EVENT_TYPE,
  sendgridEventId,
  toInboxEvents,
} from './sendgrid-webhook.controller';

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

  it('keeps an element that is not a readable event as unreadable, beside the others', () => {
    const good = { event: 'delivered', sg_event_id: 'g1' };
    const events = toInboxEvents([good, 42, { sg_event_id: 'x' }, { event: '' }, { event: 7 }]);
    expect(events.map((e) => e.type)).toEqual([
      'delivered',
      SENDGRID_UNREADABLE_EVENT_TYPE,
      SENDGRID_UNREADABLE_EVENT_TYPE,
      SENDGRID_UNREADABLE_EVENT_TYPE,
      SENDGRID_UNREADABLE_EVENT_TYPE,
    ]);
    expect(events[1]).toEqual({ eventId: sendgridEventId(42), type: 'unreadable', payload: 42 });
    expect(events[1].eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(events[2].eventId).toBe('x');
  });

  it.each([{ event: 'delivered' }, 'text', null])('refuses %j with validation_failed', (body) => {
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
