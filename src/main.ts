import { startService } from './bootstrap/start-service';
import { readProcessEnv } from './config/config.module';

startService(readProcessEnv(), { stdout: process.stdout, stderr: process.stderr })
  .then((result) => {
    if (!result.ok) process.exit(result.exitCode);
    // SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the database and Redis.
    result.app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  })
  .catch((err: unknown) => {
    process.stderr.write(`start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
