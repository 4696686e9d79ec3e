import { bearer, KEYS, startTestApp, TestApp } from './helpers/app';
import { createTestDatabase, TestDatabase } from './helpers/databases';
import { ProbeModule } from './helpers/probe.module';

describe('Logs', () => {
  let db: TestDatabase;
  let sut: TestApp;
  const lines: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    sut = await startTestApp({
      env: { DATABASE_URL: db.url, LOG_LEVEL: 'info' },
      imports: [ProbeModule],
      logDestination: { write: (line: string) => void lines.push(line) },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await db?.drop();
  });

  it('writes JSON lines with the request id and no key, phone number or email in clear', async () => {
    lines.length = 0;
    const res = await sut.app.inject({
      method: 'GET',
      url: '/probe/log/jane.doe@example.com?to=%2B15551234567&from=+15559876543',
      headers: { ...bearer(KEYS.all), 'x-request-id': 'log-test-1' },
    });
    expect(res.statusCode).toBe(200);
    const mine = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.requestId === 'log-test-1');
    // The service's own line and the request line.
    expect(mine.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['probe log line', 'request completed']),
    );
    const text = lines.join('\n');
    expect(text).not.toContain(KEYS.all);
    expect(text).not.toContain('5551234567');
    expect(text).not.toContain('5559876543');
    expect(text).not.toContain('jane.doe@example.com');
    expect(text).toContain('+*******4567');
    expect(text).toContain('j***@example.com');
    const request = mine.find((l) => l.msg === 'request completed');
    expect(request?.apiKey).toBe('all');
  });

  it('logs a 5xx as "request errored" at error level, and keeps the logging context per request', async () => {
    lines.length = 0;
    const [crash, fine] = await Promise.all([
      sut.app.inject({
        method: 'GET',
        url: '/probe/crash',
        headers: { ...bearer(KEYS.all), 'x-request-id': 'log-test-crash' },
      }),
      sut.app.inject({
        method: 'GET',
        url: '/probe/log/someone',
        headers: { ...bearer(KEYS.all), 'x-request-id': 'log-test-fine' },
      }),
    ]);
    expect([crash.statusCode, fine.statusCode]).toEqual([500, 200]);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const errored = parsed.find((l) => l.msg === 'request errored');
    expect(errored).toMatchObject({
      level: 50,
      requestId: 'log-test-crash',
      apiKey: 'all',
      req: { method: 'GET', url: '/probe/crash' },
      res: { statusCode: 500 },
    });
    expect(typeof errored?.responseTime).toBe('number');
    // The service's line of the other request carries that request's id, not the crash's.
    const probe = parsed.filter((l) => l.msg === 'probe log line');
    expect(probe.map((l) => l.requestId)).toEqual(['log-test-fine']);
  });
});
