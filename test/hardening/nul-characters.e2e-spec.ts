import { describeEachDialect, TestDatabase } from '../helpers/databases';
import { PaymentsTestApp, startPaymentsTestApp } from '../payments/payments-test-app';

/**
 * A NUL character (U+0000) in a path, query or body value: PostgreSQL cannot
 * hold one in text, so before it reached a query it was a 500 there (and a
 * 404 or a stored value on SQLite). Every dialect now answers 400
 * `validation_failed` naming the field, and nothing reaches the database or
 * the provider.
 */
describeEachDialect('NUL characters in requests', (target) => {
  let database: TestDatabase;
  let sut: PaymentsTestApp;

  beforeAll(async () => {
    database = await target.create();
    sut = await startPaymentsTestApp(database);
  });
  afterAll(async () => {
    await sut?.stop();
    await database?.drop();
  });

  it.each([
    ['GET', '/payments/pay_%00', 'id'],
    ['POST', '/payments/%00/cancel', 'id'],
    ['POST', '/payments/pay_x%00/refunds', 'id'],
    ['GET', '/webhook-events/%00', 'id'],
    ['POST', '/webhook-events/evt_%00/replay', 'id'],
    ['POST', '/jobs/%00/retry', 'id'],
    ['GET', '/payments?cursor=%00', 'cursor'],
  ] as const)('answers 400 for %s %s', async (method, url, field) => {
    const res = await sut.call(method, url, method === 'POST' ? {} : undefined);

    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      code: 'validation_failed',
      details: [{ field, message: `${field} must not contain NUL characters` }],
    });
  });

  it('answers 400 for a body value, nested or not, and stores and sends nothing', async () => {
    const sent = () => sut.emulator.requests().filter((r) => r.path.startsWith('/v1/')).length;
    const before = sent();

    for (const [body, field] of [
      [{ amount: 100, currency: 'usd', description: 'a\u0000b' }, 'description'],
      [{ amount: 100, currency: 'usd', metadata: { order: '\u0000' } }, 'metadata.order'],
    ] as const) {
      const res = await sut.call('POST', '/payments', body);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'validation_failed', details: [{ field }] });
    }

    expect(sent()).toBe(before);
    expect(await sut.db.selectFrom('payments').select('id').execute()).toEqual([]);
  });
});
