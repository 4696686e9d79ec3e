import type { ExecutionContext } from '@nestjs/common';
import { generateKeyPairSync, sign } from 'node:crypto';
import { AppError } from '../common/errors/app-error';
import type { AppConfig } from '../config/app.config';
import { SendgridSignatureGuard } from './sendgrid-signature.guard';

const NOW_SECONDS = 1_800_000_000;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PUBLIC_KEY = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

function config(enabled = true): AppConfig {
  return {
    sendgrid: { enabled, webhookPublicKey: enabled ? PUBLIC_KEY : undefined, maxRps: 10 },
    webhooks: { toleranceSeconds: 300, retentionDays: 30 },
  } as AppConfig;
}

const clock = { now: () => new Date(NOW_SECONDS * 1000 + 999) };

function request(
  timestamp: number,
  body = '[{"event":"open"}]\r\n',
  signedBody = body,
): ExecutionContext {
  const ts = String(timestamp);
  const signature = sign('sha256', Buffer.from(ts + signedBody), privateKey).toString('base64');
  const req = {
    rawBody: Buffer.from(body),
    headers: {
      'x-twilio-email-event-webhook-signature': signature,
      'x-twilio-email-event-webhook-timestamp': ts,
    },
  };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

async function outcome(sut: SendgridSignatureGuard, ctx: ExecutionContext): Promise<string> {
  try {
    return String(await sut.canActivate(ctx));
  } catch (err) {
    return err instanceof AppError ? err.code : `unexpected ${String(err)}`;
  }
}

describe(SendgridSignatureGuard.name, () => {
  const sut = new SendgridSignatureGuard(config(), clock);

  it('lets a signed request within the tolerance through, in both directions', async () => {
    for (const skew of [0, -300, 300])
      expect(await outcome(sut, request(NOW_SECONDS + skew))).toBe('true');
  });

  it('refuses a timestamp outside the tolerance, and a tampered body', async () => {
    expect(await outcome(sut, request(NOW_SECONDS - 301))).toBe('invalid_signature');
    expect(await outcome(sut, request(NOW_SECONDS + 301))).toBe('invalid_signature');
    expect(await outcome(sut, request(NOW_SECONDS, '[]\r\n', '[ ]\r\n'))).toBe('invalid_signature');
  });

  it('answers provider_disabled when SendGrid is not configured', async () => {
    expect(
      await outcome(new SendgridSignatureGuard(config(false), clock), request(NOW_SECONDS)),
    ).toBe('provider_disabled');
  });
});
