import { classifySendgridFailure, namedRetryDelayMs, SendgridClient } from './sendgrid.client';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 30);

/** What @sendgrid/client rejects with for an HTTP error: a ResponseError (code = status). */
const responseError = (status: number, headers: Record<string, string> = {}, body: unknown = {}) =>
  Object.assign(new Error('Bad Request'), { code: status, response: { headers, body } });

describe(namedRetryDelayMs.name, () => {
  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(namedRetryDelayMs({ 'retry-after': '7' }, NOW)).toBe(7000);
    expect(namedRetryDelayMs({ 'Retry-After': new Date(NOW + 5000).toUTCString() }, NOW)).toBe(
      5000,
    );
  });

  it('reads X-RateLimit-Reset as the epoch second the window resets', () => {
    const reset = String(Math.floor(NOW / 1000) + 30);
    expect(namedRetryDelayMs({ 'x-ratelimit-reset': reset }, NOW)).toBe(30_000);
    // Already past: go now.
    expect(
      namedRetryDelayMs({ 'x-ratelimit-reset': String(Math.floor(NOW / 1000) - 5) }, NOW),
    ).toBe(0);
    // A small number is a count of seconds.
    expect(namedRetryDelayMs({ 'x-ratelimit-reset': '3' }, NOW)).toBe(3000);
  });

  it('prefers Retry-After and ignores what it cannot read', () => {
    expect(namedRetryDelayMs({ 'retry-after': '2', 'x-ratelimit-reset': '9' }, NOW)).toBe(2000);
    expect(
      namedRetryDelayMs({ 'retry-after': 'soon', 'x-ratelimit-reset': 'later' }, NOW),
    ).toBeUndefined();
    expect(namedRetryDelayMs({}, NOW)).toBeUndefined();
    expect(namedRetryDelayMs(undefined, NOW)).toBeUndefined();
  });
});

describe(classifySendgridFailure.name, () => {
  it('retries 408, 409, 429 and 5xx, with the time SendGrid names', () => {
    for (const status of [408, 409, 429, 500, 502, 503]) {
      expect(classifySendgridFailure(responseError(status), NOW, 1000)).toMatchObject({
        kind: 'unavailable',
        status,
      });
    }
    const limited = classifySendgridFailure(
      responseError(429, { 'x-ratelimit-reset': String(Math.floor(NOW / 1000) + 30) }),
      NOW,
      1000,
    );
    expect(limited).toMatchObject({
      delayMs: 30_000,
      message: 'SendGrid rate-limited the request (HTTP 429)',
    });
  });

  it("makes every other 4xx permanent, with our message and SendGrid's kept apart", () => {
    const body = {
      errors: [
        {
          message: 'Does not contain a valid address.',
          field: 'personalizations.0.to.0.email',
          help: null,
        },
      ],
    };
    const failure = classifySendgridFailure(responseError(400, {}, body), NOW, 1000);
    expect(failure).toEqual({
      kind: 'rejected',
      status: 400,
      message: 'SendGrid rejected the email as invalid (HTTP 400)',
      providerErrors: [
        { message: 'Does not contain a valid address.', field: 'personalizations.0.to.0.email' },
      ],
    });
    expect(classifySendgridFailure(responseError(401), NOW, 1000)).toMatchObject({
      kind: 'rejected',
      message: "SendGrid refused Switchboard's credentials (HTTP 401)",
    });
    expect(classifySendgridFailure(responseError(413), NOW, 1000).kind).toBe('rejected');
    expect(classifySendgridFailure(responseError(422), NOW, 1000).kind).toBe('rejected');
  });

  it('tells a request that never left from one that went unanswered (axios codes)', () => {
    const failure = (code: string, isAxiosError = false) =>
      classifySendgridFailure(Object.assign(new Error(code), { code, isAxiosError }), NOW, 1500);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'])
      expect(failure(code)).toMatchObject({
        kind: 'unavailable',
        message: `could not reach SendGrid (${code})`,
      });
    // Sent, maybe taken: SendGrid has no idempotency key, so these must not be resent at once.
    expect(failure('ECONNRESET')).toMatchObject({
      kind: 'unknown',
      message: 'the connection to SendGrid failed before it answered (ECONNRESET)',
    });
    expect(failure('ECONNABORTED', true)).toMatchObject({
      kind: 'unknown',
      message: 'SendGrid did not answer within 1500 ms',
    });
  });

  it('treats an error the SDK raised before sending as permanent', () => {
    expect(
      classifySendgridFailure(new Error('Expecting object for Mail data'), NOW, 1000),
    ).toMatchObject({
      kind: 'rejected',
      message: 'the email could not be prepared for SendGrid',
    });
  });
});

describe(SendgridClient.name, () => {
  it('is disabled, and refuses to send, without SendGrid credentials', async () => {
    const config = { sendgrid: { enabled: false }, providers: { timeoutMs: 1000, maxRetries: 0 } };
    const sut = new SendgridClient(
      config as never,
      { acquire: () => Promise.resolve() },
      { now: () => new Date() },
    );
    expect(sut.enabled).toBe(false);
    await expect(
      sut.send({
        from: 'a@example.com',
        text: 'x',
        personalizations: [{ to: ['b@example.com'] }],
        customArgs: {},
      }),
    ).rejects.toMatchObject({ kind: 'unavailable', requests: 0 });
  });
});
