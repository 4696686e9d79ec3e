import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from './database.factory';

describe(openDatabase.name, () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-factory-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens a SQLite file in WAL mode, syncing every commit to disk before it returns', async () => {
    const handle = openDatabase(`sqlite:${join(dir, 'nested', 'app.db')}`);
    try {
      const pragma = async (name: string): Promise<unknown> => {
        const { rows } = await sql
          .raw<Record<string, unknown>>(`PRAGMA ${name}`)
          .execute(handle.db);
        return rows[0]?.[name];
      };
      expect(handle.dialect).toBe('sqlite');
      expect(await pragma('journal_mode')).toBe('wal');
      // 2 = FULL: a 2xx answered after a commit survives a power cut (CONTRACT: stored durably).
      expect(await pragma('synchronous')).toBe(2);
      expect(await pragma('foreign_keys')).toBe(1);
    } finally {
      await handle.db.destroy();
    }
  });
});
