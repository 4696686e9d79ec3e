import twilio from 'twilio';
import {
  countSegments,
  isValidAddress,
  newSid,
  parseBasicAuth,
  parseForm,
  rfc2822,
  twilioError,
  twilioSignature,
} from './twilio-wire';

describe('twilio-wire', () => {
  describe(rfc2822.name, () => {
    it('formats like Twilio, with a numeric zone', () => {
      expect(rfc2822(new Date('2023-08-24T05:01:45.123Z'))).toBe('Thu, 24 Aug 2023 05:01:45 +0000');
    });
  });

  describe(twilioError.name, () => {
    it('points more_info at the code page', () => {
      expect(twilioError(400, 21211, 'bad')).toEqual({
        code: 21211,
        message: 'bad',
        more_info: 'https://www.twilio.com/docs/errors/21211',
        status: 400,
      });
    });
  });

  describe(newSid.name, () => {
    it('is the prefix and 32 hex digits, different each time', () => {
      const a = newSid('SM');
      expect(a).toMatch(/^SM[0-9a-f]{32}$/);
      expect(newSid('SM')).not.toBe(a);
    });
  });

  describe(twilioSignature.name, () => {
    const token = '12345678901234567890123456789012';
    const url = 'https://example.com/webhooks/twilio?x=1&y=%20z';
    const params = {
      To: '+15005550006',
      Body: 'héllo wörld 👍',
      MessageSid: 'SM1',
      A: '',
      b: 'lower',
    };

    it('matches the SDK signer and passes the SDK verifier', () => {
      const sut = twilioSignature(token, url, params);
      expect(sut).toBe(twilio.getExpectedTwilioSignature(token, url, params));
      expect(twilio.validateRequest(token, sut, url, params)).toBe(true);
    });

    it('fails the SDK verifier when a param, the URL or the token differs', () => {
      const sut = twilioSignature(token, url, params);
      expect(twilio.validateRequest(token, sut, url, { ...params, To: '+15005550007' })).toBe(
        false,
      );
      expect(twilio.validateRequest(token, sut, `${url}&extra=1`, params)).toBe(false);
      expect(twilio.validateRequest(`${token.slice(1)}x`, sut, url, params)).toBe(false);
    });
  });

  describe(countSegments.name, () => {
    it.each([
      ['', 'GSM-7', 1],
      ['a'.repeat(160), 'GSM-7', 1],
      ['a'.repeat(161), 'GSM-7', 2],
      ['a'.repeat(306), 'GSM-7', 2],
      ['a'.repeat(307), 'GSM-7', 3],
      ['€'.repeat(80), 'GSM-7', 1],
      ['€'.repeat(81), 'GSM-7', 2],
      ['ж'.repeat(70), 'UCS-2', 1],
      ['ж'.repeat(71), 'UCS-2', 2],
      ['ж'.repeat(134), 'UCS-2', 2],
      ['ж'.repeat(135), 'UCS-2', 3],
      ['👍'.repeat(35), 'UCS-2', 1],
      ['a'.repeat(159) + '👍', 'UCS-2', 3],
    ])('%#: %s chars → %s, %d segments', (body, encoding, segments) => {
      expect(countSegments(body)).toEqual({ encoding, segments });
    });

    it('never splits a GSM escape pair across segments', () => {
      // 306 septets fit two 153-septet segments only if the € pair is split.
      expect(countSegments('a'.repeat(152) + '€' + 'a'.repeat(152))).toEqual({
        encoding: 'GSM-7',
        segments: 3,
      });
    });

    it('never splits a surrogate pair across segments', () => {
      expect(countSegments('ж'.repeat(66) + '👍' + 'ж'.repeat(66))).toEqual({
        encoding: 'UCS-2',
        segments: 3,
      });
    });
  });

  describe(isValidAddress.name, () => {
    it.each(['+15005550006', '+4915112345678', 'whatsapp:+15005550006', '+1234567'])(
      'accepts %s',
      (v) => {
        expect(isValidAddress(v)).toBe(true);
      },
    );
    it.each([
      '15005550006',
      '+0123456789',
      '+123456',
      '+1234567890123456',
      '+1 500 555 0006',
      'abc',
      '',
    ])('rejects %s', (v) => {
      expect(isValidAddress(v)).toBe(false);
    });
  });

  describe(parseForm.name, () => {
    it('decodes + and percent escapes and keeps repeated names in order', () => {
      const sut = parseForm(
        Buffer.from('To=%2B15005550006&Body=hi+there%21&MediaUrl=a&MediaUrl=b'),
      );
      expect(sut.get('To')).toEqual(['+15005550006']);
      expect(sut.get('Body')).toEqual(['hi there!']);
      expect(sut.get('MediaUrl')).toEqual(['a', 'b']);
    });
  });

  describe(parseBasicAuth.name, () => {
    it('decodes user and password, keeping colons in the password', () => {
      const header = `Basic ${Buffer.from('ACx:tok:en').toString('base64')}`;
      expect(parseBasicAuth(header)).toEqual({ user: 'ACx', pass: 'tok:en' });
    });
    it.each([undefined, '', 'Bearer abc', `Basic ${Buffer.from('nocolon').toString('base64')}`])(
      'returns null for %p',
      (h) => {
        expect(parseBasicAuth(h)).toBeNull();
      },
    );
  });
});
