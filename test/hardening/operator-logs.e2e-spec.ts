import { startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';

/** What an operator reads (README "Running in production" → Logs). */
describe('Operator logs', () => {
  let database: TestDatabase;
  let sut: TestApp;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({
      env: { DATABASE_URL: database.url, LOG_LEVEL: 'info' },
      logDestination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it('logs one line per request but none for the health checks a load balancer polls', async () => {
    lines.length = 0;
    for (const [url, id] of [
      ['/health/live', 'health-live'],
      ['/health/ready', 'health-ready'],
      ['/no/such/route', 'not-found'],
    ])
      await sut.app.inject({ method: 'GET', url, headers: { 'x-request-id': id } });

    const requestLines = lines.filter((l) => l.msg === 'request completed');
    expect(requestLines.map((l) => l.requestId)).toEqual(['not-found']);
    expect(requestLines[0]).toMatchObject({
      req: { method: 'GET', url: '/no/such/route' },
      res: { statusCode: 404 },
    });
  });
});
