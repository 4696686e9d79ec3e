import { decodeCursor, encodeCursor } from './pagination';

describe('cursor', () => {
  const position = { createdAt: '2026-11-30T07:00:00.000Z', id: 'pay_abc123' };

  it('round-trips a position', () => {
    expect(decodeCursor(encodeCursor(position), /^pay_[a-z0-9]+$/)).toEqual(position);
  });

  it('rejects malformed, foreign and non-canonical cursors', () => {
    const good = encodeCursor(position);
    expect(decodeCursor('not a cursor', /^pay_/)).toBeUndefined();
    expect(decodeCursor(good, /^sms_/)).toBeUndefined();
    expect(decodeCursor(`${good}!`, /^pay_/)).toBeUndefined();
    expect(
      decodeCursor(Buffer.from('["yesterday","pay_1"]').toString('base64url'), /^pay_/),
    ).toBeUndefined();
  });
});
