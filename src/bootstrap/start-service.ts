import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../app.factory';
import { AppConfig, ConfigError, loadAppConfig } from '../config/app.config';
import { describeDatabase } from '../database/database.factory';
import type { Sandbox } from '../sandbox/sandbox-cluster';
import { SandboxLifecycleModule, startSandboxFor } from './sandbox-wiring';

export interface Output {
  write(text: string): void;
}

export type StartResult =
  | { ok: true; app: NestFastifyApplication; config: AppConfig; sandbox?: Sandbox }
  | { ok: false; exitCode: number };

/** What start-up logs: which providers, database and queue — never a secret. */
export function startupSummary(config: AppConfig): string {
  const providers = (['stripe', 'twilio', 'sendgrid'] as const)
    .map((p) => `${p}=${config[p].enabled ? (config.sandbox ? 'sandbox' : 'enabled') : 'disabled'}`)
    .join(' ');
  const queue = config.redis.url ? 'bullmq (redis)' : 'local (database)';
  return `providers: ${providers}; database: ${describeDatabase(config.database.url)}; queue: ${queue}`;
}

/**
 * Validates the environment, prints the development key when one was
 * generated, and starts listening. Configuration problems are written one per
 * line to `stderr` and give exit code 1 instead of a stack trace.
 */
export async function startService(
  env: Record<string, string | undefined>,
  io: { stdout: Output; stderr: Output },
): Promise<StartResult> {
  let config: AppConfig;
  try {
    config = loadAppConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`Invalid configuration:\n${err.problems.map((p) => `  ${p}\n`).join('')}`);
      return { ok: false, exitCode: 1 };
    }
    throw err;
  }

  if (config.auth.generatedKey) {
    // The one secret ever printed (CONTRACT §1): development only, outside the structured log.
    io.stdout.write(
      `\n  Development API key (all scopes): ${config.auth.generatedKey.secret}\n` +
        `  Set API_KEYS to choose your own; this one changes on every start.\n\n`,
    );
  }

  const imports = [];
  let sandboxUrls: string | undefined;
  let sandbox: Sandbox | undefined;
  if (config.sandbox) {
    const wired = await startSandboxFor(config);
    config = wired.config;
    sandbox = wired.sandbox;
    imports.push(SandboxLifecycleModule.forRoot(wired.sandbox));
    sandboxUrls = Object.entries(wired.sandbox.urls)
      .map(([name, url]) => `${name} ${url}`)
      .join(', ');
  }

  const app = await createApp(config, { imports });
  await app.listen({ host: config.http.host, port: config.http.port });
  const logger = new Logger('Switchboard');
  logger.log(startupSummary(config));
  if (sandboxUrls) logger.log(`sandbox emulators: ${sandboxUrls} (no real provider is called)`);
  logger.log(
    `listening on ${config.http.host}:${config.http.port}; public URL ${config.http.publicBaseUrl}; docs at /docs`,
  );
  return { ok: true, app, config, sandbox };
}
