import type { ExecutionContext } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import { rawBodyOf, WebhookRequest, WebhookSignatureGuard } from './webhook-signature.guard';

/** A guard whose verification answers `outcome()`, at once or (async) a turn later. */
class FakeGuard extends WebhookSignatureGuard {
  constructor(
    private readonly outcome: () => boolean,
    private readonly async = false,
  ) {
    super();
  }

  protected verify(request: WebhookRequest): boolean | Promise<boolean> {
    rawBodyOf(request);
    return this.async ? Promise.resolve().then(this.outcome) : this.outcome();
  }
}

function contextFor(request: Partial<WebhookRequest>): ExecutionContext {
  return { switchToHttp: () => ({ getRequest: () => request }) } as unknown as ExecutionContext;
}

const withBody = contextFor({ rawBody: Buffer.from('{}'), headers: {} });

/** The error code `activate` ends with, thrown or rejected; undefined when it lets the request through. */
async function codeOf(activate: () => boolean | Promise<boolean>): Promise<string | undefined> {
  try {
    await activate();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
}

describe.each([
  ['a synchronous', false],
  ['an asynchronous', true],
])('%s WebhookSignatureGuard', (_name, async) => {
  const guard = (outcome: () => boolean) => new FakeGuard(outcome, async);

  it('lets a verified request through', async () => {
    const result = guard(() => true).canActivate(withBody);
    // A synchronous verification answers without a promise (the webhooks' hot path).
    expect(typeof result === 'boolean').toBe(!async);
    await expect(Promise.resolve(result)).resolves.toBe(true);
  });

  it('answers invalid_signature when verification fails or throws', async () => {
    expect(await codeOf(() => guard(() => false).canActivate(withBody))).toBe('invalid_signature');
    const throwing = guard(() => {
      throw new TypeError('bad DER');
    });
    expect(await codeOf(() => throwing.canActivate(withBody))).toBe('invalid_signature');
  });

  it('answers invalid_signature without a raw body', async () => {
    expect(await codeOf(() => guard(() => true).canActivate(contextFor({ headers: {} })))).toBe(
      'invalid_signature',
    );
  });

  it('passes our other errors through', async () => {
    const disabled = guard(() => {
      throw new AppError('provider_disabled', 'stripe is disabled');
    });
    expect(await codeOf(() => disabled.canActivate(withBody))).toBe('provider_disabled');
  });
});
