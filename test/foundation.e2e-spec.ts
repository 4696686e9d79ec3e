import { IdempotencyRepository } from '../src/common/idempotency/idempotency.repository';
import { AppError } from '../src/common/errors/app-error';
import { bearer, KEYS, startTestApp, TestApp } from './helpers/app';
import { describeEachDialect, TestDatabase } from './helpers/databases';
import { pollUntil } from './helpers/poll';
import { ProbeModule, probeState } from './helpers/probe.module';

describeEachDialect('Foundation', (target) => {
  let db: TestDatabase;
  let sut: TestApp;

  const inject = (opts: Parameters<TestApp['app']['inject']>[0]) => sut.app.inject(opts);
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    inject({
      method: 'POST',
      url,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...bearer(KEYS.all), ...headers },
    });

  beforeAll(async () => {
    db = await target.create();
    sut = await startTestApp({ env: { DATABASE_URL: db.url }, imports: [ProbeModule] });
  });
  afterAll(async () => {
    await sut?.close();
    await db?.drop();
  });
  beforeEach(() => probeState.reset());

  describe('authentication', () => {
    it('answers 401 without a key and with an unknown key', async () => {
      for (const headers of [
        {},
        bearer('not-a-key-at-all-000000000000'),
        { authorization: 'Basic abc' },
      ]) {
        const res = await inject({ method: 'GET', url: '/probe/admin', headers });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toMatchObject({ statusCode: 401, code: 'unauthorized' });
      }
    });

    it('answers 403 when the key lacks the scope, and admin does not imply the others', async () => {
      const res = await inject({
        method: 'GET',
        url: '/probe/admin',
        headers: bearer(KEYS.payments),
      });
      expect(res.statusCode).toBe(403);
      expect(res.json().code).toBe('forbidden');
      const adminOnPayments = await post('/probe/payments', { amount: 1 }, bearer(KEYS.admin));
      expect(adminOnPayments.statusCode).toBe(403);
      const ok = await inject({ method: 'GET', url: '/probe/admin', headers: bearer(KEYS.admin) });
      expect(ok.statusCode).toBe(200);
    });

    it('leaves health public', async () => {
      const live = await inject({ method: 'GET', url: '/health/live' });
      expect(live.statusCode).toBe(200);
      const ready = await inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json().info.database.status).toBe('up');
    });
  });

  describe('error shape', () => {
    it('reports each validation problem with its field, unknown fields included', async () => {
      const res = await post('/probe/payments', { amount: 0, extra: true });
      expect(res.statusCode).toBe(400);
      const body = res.json();
      expect(body).toMatchObject({
        statusCode: 400,
        code: 'validation_failed',
        requestId: res.headers['x-request-id'],
      });
      expect(body.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: 'amount' }),
          expect.objectContaining({ field: 'extra' }),
        ]),
      );
    });

    it('answers malformed JSON with validation_failed', async () => {
      const res = await inject({
        method: 'POST',
        url: '/probe/payments',
        payload: '{"amount": 1',
        headers: { 'content-type': 'application/json', ...bearer(KEYS.all) },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'validation_failed',
        message: 'the request body is not valid JSON',
      });
    });

    it('answers a non-JSON body with 415', async () => {
      const res = await inject({
        method: 'POST',
        url: '/probe/payments',
        payload: 'amount=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer(KEYS.all) },
      });
      expect(res.statusCode).toBe(415);
      expect(res.json().code).toBe('unsupported_media_type');
    });

    it('answers an unknown route with 404 not_found', async () => {
      const res = await inject({ method: 'GET', url: '/nowhere', headers: bearer(KEYS.all) });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ statusCode: 404, code: 'not_found' });
    });

    it('answers a URL that is not validly encoded in our shape, with our headers', async () => {
      const res = await inject({
        method: 'GET',
        url: '/payments/%E0%A4%A',
        headers: { 'x-request-id': 'req-bad-url' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        statusCode: 400,
        code: 'validation_failed',
        message: 'the URL is not validly encoded',
        details: [{ field: 'url', message: 'the URL is not validly encoded' }],
        requestId: 'req-bad-url',
      });
      expect(res.headers['x-request-id']).toBe('req-bad-url');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    });

    it('answers a body over 1 MiB with 413', async () => {
      const res = await post('/probe/payments', { amount: 1, note: 'x'.repeat(1024 * 1024) });
      expect(res.statusCode).toBe(413);
      expect(res.json().code).toBe('payload_too_large');
    });

    it('hides the details of an unexpected exception', async () => {
      const res = await inject({ method: 'GET', url: '/probe/crash', headers: bearer(KEYS.all) });
      expect(res.statusCode).toBe(500);
      const body = res.json();
      expect(body).toEqual({
        statusCode: 500,
        code: 'internal_error',
        message: 'internal error',
        requestId: expect.any(String),
      });
      expect(res.body).not.toMatch(/secret|TypeError|at /);
    });

    it('echoes a well-formed X-Request-Id and replaces a malformed one', async () => {
      const good = await inject({
        method: 'GET',
        url: '/health/live',
        headers: { 'x-request-id': 'abc-123:x.y_z' },
      });
      expect(good.headers['x-request-id']).toBe('abc-123:x.y_z');
      const bad = await inject({
        method: 'GET',
        url: '/health/live',
        headers: { 'x-request-id': 'bad id with spaces' },
      });
      expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(good.headers['x-content-type-options']).toBe('nosniff');
      expect(good.headers['x-powered-by']).toBeUndefined();
    });
  });

  describe('idempotency', () => {
    it('replays the kept response byte-for-byte with Idempotent-Replayed', async () => {
      const first = await post('/probe/payments', { amount: 5 }, { 'idempotency-key': 'k-replay' });
      expect(first.statusCode).toBe(201);
      const again = await post('/probe/payments', { amount: 5 }, { 'idempotency-key': 'k-replay' });
      expect(again.statusCode).toBe(201);
      expect(again.body).toBe(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
      expect(probeState.runs).toBe(1);
    });

    it('keeps a handler-decided 402 and its first requestId', async () => {
      const first = await post(
        '/probe/payments',
        { amount: 5, note: 'decline' },
        { 'idempotency-key': 'k-402' },
      );
      expect(first.statusCode).toBe(402);
      const again = await post(
        '/probe/payments',
        { amount: 5, note: 'decline' },
        { 'idempotency-key': 'k-402' },
      );
      expect(again.statusCode).toBe(402);
      expect(again.body).toBe(first.body);
      expect(again.json().requestId).toBe(first.headers['x-request-id']);
      expect(probeState.runs).toBe(1);
    });

    it('does not keep 5xx or validation failures, so a retry runs again', async () => {
      const first = await post(
        '/probe/payments',
        { amount: 5, note: 'unavailable' },
        { 'idempotency-key': 'k-503' },
      );
      expect(first.statusCode).toBe(503);
      const again = await post(
        '/probe/payments',
        { amount: 5, note: 'unavailable' },
        { 'idempotency-key': 'k-503' },
      );
      expect(again.statusCode).toBe(503);
      expect(probeState.runs).toBe(2);
      const invalid = await post('/probe/payments', { amount: 0 }, { 'idempotency-key': 'k-400' });
      expect(invalid.statusCode).toBe(400);
      const fixed = await post('/probe/payments', { amount: 3 }, { 'idempotency-key': 'k-400' });
      expect(fixed.statusCode).toBe(201);
    });

    it('answers 422 for the same key with another body or path', async () => {
      await post('/probe/payments', { amount: 5 }, { 'idempotency-key': 'k-422' });
      const otherBody = await post(
        '/probe/payments',
        { amount: 6 },
        { 'idempotency-key': 'k-422' },
      );
      expect(otherBody.statusCode).toBe(422);
      expect(otherBody.json().code).toBe('idempotency_key_reused');
      const otherPath = await post(
        '/probe/accepted',
        { amount: 5 },
        { 'idempotency-key': 'k-422' },
      );
      expect(otherPath.statusCode).toBe(422);
      // The path, not the URL: a query string does not make it another request.
      const withQuery = await post(
        '/probe/payments?utm=1',
        { amount: 5 },
        { 'idempotency-key': 'k-422' },
      );
      expect(withQuery.statusCode).toBe(201);
      expect(withQuery.headers['idempotent-replayed']).toBe('true');
    });

    it('still answers 201 when its response cannot be kept (the handler has acted)', async () => {
      const repo = sut.app.get(IdempotencyRepository);
      const complete = jest
        .spyOn(repo, 'complete')
        .mockRejectedValueOnce(new Error('the database blinked'));
      try {
        const res = await post('/probe/payments', { amount: 7 }, { 'idempotency-key': 'k-keep' });
        expect(res.statusCode).toBe(201);
        expect(complete).toHaveBeenCalledTimes(1);
        // Not released either: a retry meanwhile waits instead of acting again.
        const retry = await post('/probe/payments', { amount: 7 }, { 'idempotency-key': 'k-keep' });
        expect(retry.statusCode).toBe(409);
        expect(retry.json().code).toBe('idempotency_key_in_use');
      } finally {
        complete.mockRestore();
      }
    });

    it('scopes keys per API key', async () => {
      await post('/probe/payments', { amount: 5 }, { 'idempotency-key': 'k-scope' });
      const other = await post(
        '/probe/payments',
        { amount: 5 },
        { 'idempotency-key': 'k-scope', ...bearer(KEYS.payments) },
      );
      expect(other.statusCode).toBe(201);
      expect(other.headers['idempotent-replayed']).toBeUndefined();
      expect(probeState.runs).toBe(2);
    });

    it('answers 409 while the first request with the key is still running', async () => {
      let open!: () => void;
      probeState.gate = new Promise<void>((resolve) => (open = resolve));
      const first = post('/probe/payments', { amount: 5 }, { 'idempotency-key': 'k-409' });
      await waitFor(() => probeState.runs === 1);
      const during = await post('/probe/payments', { amount: 7 }, { 'idempotency-key': 'k-409' });
      expect(during.statusCode).toBe(409);
      expect(during.json().code).toBe('idempotency_key_in_use');
      open();
      expect((await first).statusCode).toBe(201);
    });

    it('runs the handler exactly once for 20 concurrent requests with one key', async () => {
      let open!: () => void;
      probeState.gate = new Promise<void>((resolve) => (open = resolve));
      const all = Array.from({ length: 20 }, () =>
        post('/probe/payments', { amount: 9 }, { 'idempotency-key': 'k-20' }),
      );
      await waitFor(() => probeState.runs >= 1);
      open();
      const results = await Promise.all(all);
      expect(probeState.runs).toBe(1);
      const statuses = results.map((r) => r.statusCode);
      expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
      // Exactly one response is the original; every other 201 is a replay of it.
      const created = results.filter((r) => r.statusCode === 201);
      expect(created.filter((r) => r.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
      expect(new Set(created.map((r) => r.body)).size).toBe(1);
    });

    it('keeps a 202 with its own status', async () => {
      const first = await post(
        '/probe/accepted',
        { amount: 1 },
        { 'idempotency-key': 'k-202', ...bearer(KEYS.sms) },
      );
      const again = await post(
        '/probe/accepted',
        { amount: 1 },
        { 'idempotency-key': 'k-202', ...bearer(KEYS.sms) },
      );
      expect([first.statusCode, again.statusCode]).toEqual([202, 202]);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });

    it('rejects a malformed key', async () => {
      const res = await post(
        '/probe/payments',
        { amount: 1 },
        { 'idempotency-key': 'x'.repeat(256) },
      );
      expect(res.statusCode).toBe(400);
      expect(res.json().details[0].field).toBe('Idempotency-Key');
    });
  });
});

describe(AppError.name, () => {
  it('maps every code to its contract status', () => {
    expect(new AppError('card_declined', 'x').status).toBe(402);
    expect(new AppError('idempotency_key_reused', 'x').status).toBe(422);
    expect(new AppError('provider_disabled', 'x').status).toBe(503);
    expect(new AppError('https_required', 'x').status).toBe(403);
  });
});

/** Bounded by time, not by turns of the event loop: with Redis and PostgreSQL a request takes several round trips to reach its handler. */
function waitFor(predicate: () => boolean): Promise<void> {
  return pollUntil(predicate, { timeoutMs: 5000, intervalMs: 1, what: 'the probe handler' });
}
