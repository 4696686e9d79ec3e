import type { ExecutionContext } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import twilio from 'twilio';
import { AppError } from '../common/errors/app-error';
import { loadAppConfig } from '../config/app.config';
import type { WebhookRequest } from '../webhooks/webhook-signature.guard';
import { TwilioSignatureGuard } from './twilio-signature.guard';

const TOKEN = 'guard'.repeat(6) + 'xx';
const PUBLIC = 'https://hooks.example.test/sb';

function guard(env: Record<string, string> = {}): TwilioSignatureGuard {
  return new TwilioSignatureGuard(
    loadAppConfig({
      NODE_ENV: 'test',
      API_KEYS: `k:${'s'.repeat(24)}:sms`,
      PUBLIC_BASE_URL: PUBLIC,
      TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      ...env,
    }),
  );
}

function contextFor(url: string, body: string, headers: Record<string, string>): ExecutionContext {
  const request = { url, rawBody: Buffer.from(body), headers } as unknown as WebhookRequest;
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

async function outcome(sut: TwilioSignatureGuard, ctx: ExecutionContext): Promise<string> {
  try {
    return String(await sut.canActivate(ctx));
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
}

describe(TwilioSignatureGuard.name, () => {
  const sut = guard();
  // Every kind of value Twilio sends: repeated names, spaces, `+`, non-ASCII, empty.
  const form =
    'MessageSid=SM1&Body=Hello+w%C3%B6rld+%2B+%F0%9F%98%80&MediaUrl=https%3A%2F%2Fa&MediaUrl=https%3A%2F%2Fb&ErrorCode=&To=%2B15551234567';
  const params = {
    MessageSid: 'SM1',
    Body: 'Hello wörld + 😀',
    MediaUrl: ['https://a', 'https://b'],
    ErrorCode: '',
    To: '+15551234567',
  };
  const path = '/webhooks/twilio?tenant=a%20b';
  const signed = (url: string, p: Record<string, string | string[]> = params, token = TOKEN) =>
    twilio.getExpectedTwilioSignature(token, url, p);

  it('accepts a signature over PUBLIC_BASE_URL + path and query as received, and every form param', async () => {
    const ctx = contextFor(path, form, { 'x-twilio-signature': signed(`${PUBLIC}${path}`) });
    expect(await outcome(sut, ctx)).toBe('true');
  });

  it('agrees with Twilio’s documented algorithm, computed here with node:crypto', async () => {
    const single = { MessageSid: 'SM1', MessageStatus: 'delivered', Body: 'ünï 😀' };
    const body = new URLSearchParams(single).toString();
    const data = Object.keys(single)
      .sort()
      .reduce((acc, k) => acc + k + single[k as keyof typeof single], `${PUBLIC}/webhooks/twilio`);
    const signature = createHmac('sha1', TOKEN).update(data, 'utf8').digest('base64');
    expect(signature).toBe(signed(`${PUBLIC}/webhooks/twilio`, single));
    expect(
      await outcome(sut, contextFor('/webhooks/twilio', body, { 'x-twilio-signature': signature })),
    ).toBe('true');
  });

  it.each([
    ['another token', () => signed(`${PUBLIC}${path}`, params, 'x'.repeat(32))],
    ['the Host-derived URL', () => signed(`https://10.0.0.7:3000${path}`)],
    ['the URL without the prefix', () => signed(`https://hooks.example.test${path}`)],
    ['the URL without the query', () => signed(`${PUBLIC}/webhooks/twilio`)],
    ['one param fewer', () => signed(`${PUBLIC}${path}`, { ...params, MediaUrl: 'https://a' })],
    ['garbage', () => '!!!'],
  ])('refuses a signature made with %s', async (_what, signature) => {
    const ctx = contextFor(path, form, {
      'x-twilio-signature': signature(),
      host: '10.0.0.7:3000',
    });
    expect(await outcome(sut, ctx)).toBe('invalid_signature');
  });

  it('refuses a missing or repeated signature header', async () => {
    expect(await outcome(sut, contextFor(path, form, {}))).toBe('invalid_signature');
    const repeated = {
      'x-twilio-signature': [signed(`${PUBLIC}${path}`), 'x'],
    } as unknown as Record<string, string>;
    expect(await outcome(sut, contextFor(path, form, repeated))).toBe('invalid_signature');
  });

  it('answers provider_disabled when Twilio is not configured', async () => {
    const disabled = guard({
      TWILIO_ACCOUNT_SID: '',
      TWILIO_AUTH_TOKEN: '',
      TWILIO_FROM_NUMBER: '',
    });
    const ctx = contextFor(path, form, { 'x-twilio-signature': signed(`${PUBLIC}${path}`) });
    expect(await outcome(disabled, ctx)).toBe('provider_disabled');
  });
});
