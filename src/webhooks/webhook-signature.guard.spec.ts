import type { ExecutionContext } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import { rawBodyOf, WebhookRequest, WebhookSignatureGuard } from './webhook-signature.guard';

class FakeGuard extends WebhookSignatureGuard {
  constructor(private readonly outcome: () => boolean) {
    super();
  }

  protected verify(request: WebhookRequest): boolean {
    rawBodyOf(request);
    return this.outcome();
  }
}

function contextFor(request: Partial<WebhookRequest>): ExecutionContext {
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

const withBody = contextFor({ rawBody: Buffer.from('{}'), headers: {} });

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
}

describe(WebhookSignatureGuard.name, () => {
  it('lets a verified request through', async () => {
    await expect(new FakeGuard(() => true).canActivate(withBody)).resolves.toBe(true);
  });

  it('answers invalid_signature when verification fails or throws', async () => {
    expect(await codeOf(new FakeGuard(() => false).canActivate(withBody))).toBe(
      'invalid_signature',
    );
    const throwing = new FakeGuard(() => {
      throw new TypeError('bad DER');
    });
    expect(await codeOf(throwing.canActivate(withBody))).toBe('invalid_signature');
  });

  it('answers invalid_signature without a raw body', async () => {
    expect(await codeOf(new FakeGuard(() => true).canActivate(contextFor({ headers: {} })))).toBe(
      'invalid_signature',
    );
  });

  it('passes our other errors through', async () => {
    const disabled = new FakeGuard(() => {
      throw new AppError('provider_disabled', 'stripe is disabled');
    });
    expect(await codeOf(disabled.canActivate(withBody))).toBe('provider_disabled');
  });
});
