import { toInboxEvent } from './twilio-webhook.controller';

describe('toInboxEvent', () => {
  const raw = Buffer.from('x');

  it('types status callbacks by MessageStatus and inbound messages as message.inbound', () => {
    expect(
      toInboxEvent({ MessageSid: 'SM1', MessageStatus: 'delivered' }, undefined, raw),
    ).toMatchObject({
      eventId: 'SM1:delivered',
      type: 'message.status.delivered',
    });
    expect(
      toInboxEvent({ MessageSid: 'SM2', SmsStatus: 'received', Body: 'hi' }, undefined, raw),
    ).toMatchObject({
      eventId: 'SM2:received',
      type: 'message.inbound',
    });
  });

  it('dedupes on I-Twilio-Idempotency-Token when Twilio sends one', () => {
    const event = toInboxEvent({ MessageSid: 'SM1', MessageStatus: 'sent' }, 'tok-1', raw);
    expect(event.eventId).toBe('tok-1');
  });

  it('falls back to a hash of the body when there is no MessageSid', () => {
    const a = toInboxEvent({ Foo: 'bar' }, undefined, Buffer.from('Foo=bar'));
    const b = toInboxEvent({ Foo: 'bar' }, undefined, Buffer.from('Foo=bar'));
    expect(a.eventId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a.eventId).toBe(b.eventId);
  });
});
