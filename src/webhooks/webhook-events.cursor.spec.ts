import { decodeCursor, encodeCursor } from './webhook-events.cursor';
import { newWebhookEventId } from './webhook-event-id';

describe('webhook events cursor', () => {
  const position = {
    receivedAt: '2030-01-02T03:04:05.678Z',
    id: newWebhookEventId(new Date('2030-01-02T03:04:05.678Z')),
  };

  it('round-trips a position', () => {
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
  });

  it.each([
    ['empty', ''],
    ['not base64 JSON', 'abc'],
    ['a stray character', `${encodeCursor(position)}!`],
    ['a wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['a bad time', Buffer.from(JSON.stringify(['yesterday', position.id])).toString('base64url')],
    ['a bad id', Buffer.from(JSON.stringify([position.receivedAt, 'evt_x'])).toString('base64url')],
  ])('rejects %s', (_name, cursor) => {
    expect(decodeCursor(cursor)).toBeUndefined();
  });
});
