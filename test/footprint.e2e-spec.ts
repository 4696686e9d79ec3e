import { randomBytes } from 'node:crypto';
import { createApp } from '../src/app.factory';
import { startService } from '../src/bootstrap/start-service';
import { loadAppConfig } from '../src/config/app.config';
import { JobQueueOptionsModule } from '../src/jobs/job-queue.options';

/**
 * The scale-out drivers are loaded only when configured: an embedded instance
 * (SQLite, no `REDIS_URL`) keeps BullMQ, ioredis and node-postgres out of its
 * memory (≈ 15 MB together). Each module is wrapped so that loading it is
 * recorded, and is otherwise the real one. `jest.mock` is hoisted above the
 * imports, so a static import anywhere in the app would be recorded too; the
 * record lives on globalThis because it is written while the imports run.
 */
const DRIVERS = ['bullmq', 'ioredis', 'pg'];
const loaded = (): string[] => (globalThis as { footprintLoaded?: string[] }).footprintLoaded ?? [];
jest.mock('bullmq', () => mockRecordLoad('bullmq'));
jest.mock('ioredis', () => mockRecordLoad('ioredis'));
jest.mock('pg', () => mockRecordLoad('pg'));
function mockRecordLoad(name: string): object {
  const record = globalThis as { footprintLoaded?: string[] };
  (record.footprintLoaded ??= []).push(name);
  return jest.requireActual<object>(name);
}

const postgresUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;
if (!postgresUrl || !redisUrl)
  process.stdout.write(
    'footprint: the scale-out half is skipped: TEST_DATABASE_URL and TEST_REDIS_URL are not both set\n',
  );

const silent = { write: () => undefined };

describe('what an instance loads', () => {
  // In this order: once loaded, a module stays in the registry for the rest of the file.
  it('on embedded defaults (SQLite, in-process jobs, sandbox providers): no BullMQ, ioredis or pg', async () => {
    // What `npm start` runs with no configuration, on an in-memory database.
    const result = await startService(
      { NODE_ENV: 'development', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: 'sqlite::memory:' },
      { stdout: silent, stderr: silent },
    );
    if (!result.ok) throw new Error('did not start');
    try {
      expect(result.sandbox).toBeDefined();
      const ready = await result.app.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(200);
    } finally {
      await result.app.close();
    }
    expect(loaded()).toEqual([]);
  });

  (postgresUrl && redisUrl ? it : it.skip)(
    'on PostgreSQL + Redis: BullMQ and ioredis, once they are configured',
    async () => {
      // Imported here: the helper that makes the database loads pg itself.
      const { createPostgresDatabase } = await import('./helpers/databases');
      const database = await createPostgresDatabase(postgresUrl ?? '');
      expect(loaded()).toEqual(['pg']);
      const config = loadAppConfig({
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        SANDBOX: 'false',
        API_KEYS: 'footprint:footprint-secret-0000000000:admin',
        DATABASE_URL: database.url,
        REDIS_URL: redisUrl ?? '',
      });
      const app = await createApp(config, {
        // Queues of its own: apps of other suites share this Redis.
        imports: [
          JobQueueOptionsModule.forRoot({
            bullmqPrefix: `sb-footprint-${randomBytes(4).toString('hex')}`,
          }),
        ],
      });
      try {
        expect([...loaded()].sort()).toEqual([...DRIVERS].sort());
      } finally {
        await app.close();
        await database.drop();
      }
    },
  );
});
