import { newWebhookEventId, WEBHOOK_EVENT_ID_PATTERN } from './webhook-event-id';

describe(newWebhookEventId.name, () => {
  it('makes well-formed, distinct ids', () => {
    const ids = Array.from({ length: 1000 }, () =>
      newWebhookEventId(new Date('2030-01-01T00:00:00Z')),
    );
    for (const id of ids) expect(id).toMatch(WEBHOOK_EVENT_ID_PATTERN);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('sorts by time', () => {
    const times = [0, 1, 31, 32, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000];
    const ids = times.map((t) => newWebhookEventId(new Date(t)));
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts ids of the same millisecond in the order they were made', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const ids = Array.from({ length: 500 }, () => newWebhookEventId(now));
    expect([...ids].sort()).toEqual(ids);
    // A later millisecond starts from fresh random digits, still after the earlier ones.
    const later = newWebhookEventId(new Date(now.getTime() + 1));
    expect(later > ids[ids.length - 1]).toBe(true);
  });
});
