import { loadAppConfig } from '../config/app.config';
import { readProcessEnv } from '../config/config.module';
import { migrateToLatest, openDatabase } from './database.factory';

/** `npm run migrate`: applies pending migrations to DATABASE_URL and exits. */
async function main(): Promise<void> {
  const config = loadAppConfig(readProcessEnv());
  const handle = openDatabase(config.database.url, { poolSize: 1 });
  try {
    const applied = await migrateToLatest(handle.db);
    process.stdout.write(
      applied.length > 0
        ? `applied to ${handle.describe}: ${applied.join(', ')}\n`
        : `${handle.describe} is up to date\n`,
    );
  } finally {
    await handle.db.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
