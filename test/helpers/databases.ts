import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { SCALEOUT_MODE } from './test-mode';

/** A database for one suite, on one dialect; `drop()` removes it. */
export interface TestDatabase {
  dialect: 'sqlite' | 'postgres';
  url: string;
  drop(): Promise<void>;
}

export interface DialectTarget {
  dialect: 'sqlite' | 'postgres';
  create(): Promise<TestDatabase>;
}

const postgresUrl = process.env.TEST_DATABASE_URL;
let skipNoticePrinted = false;

/** A fresh SQLite file in a temporary folder (a file, not :memory:, so a restart sees the same data). */
export async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  return Promise.resolve({
    dialect: 'sqlite',
    url: `sqlite:${join(dir, 'test.db')}`,
    drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
}

/** A fresh PostgreSQL database created on the server `TEST_DATABASE_URL` points to. */
export async function createPostgresDatabase(baseUrl: string): Promise<TestDatabase> {
  const name = `switchboard_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    dialect: 'postgres',
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * The dialects a database suite runs on: SQLite always, PostgreSQL when
 * `TEST_DATABASE_URL` is set (else a notice says why it is skipped); in
 * scale-out mode PostgreSQL only.
 */
export function dialectTargets(): DialectTarget[] {
  if (SCALEOUT_MODE) {
    if (!postgresUrl)
      throw new Error('TEST_SCALEOUT=1 needs TEST_DATABASE_URL (and TEST_REDIS_URL)');
    return [{ dialect: 'postgres', create: () => createPostgresDatabase(postgresUrl) }];
  }
  const targets: DialectTarget[] = [{ dialect: 'sqlite', create: createSqliteDatabase }];
  if (postgresUrl)
    targets.push({ dialect: 'postgres', create: () => createPostgresDatabase(postgresUrl) });
  else if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    process.stdout.write('PostgreSQL suites skipped: TEST_DATABASE_URL is not set\n');
  }
  return targets;
}

/**
 * The database of a suite that needs one but is not about the dialect:
 * PostgreSQL in scale-out mode, else a SQLite file.
 */
export function createTestDatabase(): Promise<TestDatabase> {
  return dialectTargets()[0].create();
}

/** Runs `fn` as a describe block once per available dialect. */
export function describeEachDialect(name: string, fn: (target: DialectTarget) => void): void {
  for (const target of dialectTargets()) describe(`${name} [${target.dialect}]`, () => fn(target));
}
