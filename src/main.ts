import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { AppConfig, ConfigError, loadAppConfig } from './config/app.config';
import { readProcessEnv } from './config/config.module';
import { describeDatabase } from './database/database.factory';

function summary(config: AppConfig): string {
  const providers = (['stripe', 'twilio', 'sendgrid'] as const)
    .map((p) => `${p}=${config[p].enabled ? (config.sandbox ? 'sandbox' : 'enabled') : 'disabled'}`)
    .join(' ');
  const queue = config.redis.url ? 'bullmq (redis)' : 'local (database)';
  return `providers: ${providers}; database: ${describeDatabase(config.database.url)}; queue: ${queue}`;
}

async function bootstrap(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadAppConfig(readProcessEnv());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.problems.join('\n')}\n`);
      process.exit(1);
    }
    throw err;
  }

  if (config.auth.generatedKey) {
    // The one secret ever printed (CONTRACT §1): development only, outside the structured log.
    process.stdout.write(
      `\n  Development API key (all scopes): ${config.auth.generatedKey.secret}\n` +
        `  Set API_KEYS to choose your own; this one changes on every start.\n\n`,
    );
  }

  const app = await createApp(config);
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen({ host: config.http.host, port: config.http.port });
  const logger = new Logger('Switchboard');
  logger.log(summary(config));
  logger.log(`listening on ${await app.getUrl()} (public ${config.http.publicBaseUrl}); docs at /docs`);
}

bootstrap().catch((err: unknown) => {
  process.stderr.write(`start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
