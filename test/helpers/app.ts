import type { DynamicModule, Type } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream } from 'pino';
import { createApp } from '../../src/app.factory';
import { AppConfig, loadAppConfig } from '../../src/config/app.config';

export const KEYS = {
  all: 'all-scopes-secret-000000000000',
  payments: 'payments-only-secret-00000000',
  sms: 'sms-only-secret-0000000000000',
  emails: 'emails-only-secret-000000000',
  admin: 'admin-only-secret-00000000000',
};

export const API_KEYS = [
  `all:${KEYS.all}:payments+sms+emails+admin`,
  `payments:${KEYS.payments}:payments`,
  `sms:${KEYS.sms}:sms`,
  `emails:${KEYS.emails}:emails`,
  `admin:${KEYS.admin}:admin`,
].join(',');

export const bearer = (secret: string): Record<string, string> => ({
  authorization: `Bearer ${secret}`,
});

export function testConfig(env: Record<string, string | undefined>): AppConfig {
  return loadAppConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    API_KEYS,
    SANDBOX: 'false',
    ...env,
  });
}

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  /** The listening base URL (only when `listen` was asked for). */
  url?: string;
  close(): Promise<void>;
}

/** Builds the real application for a test, optionally listening on a free port. */
export async function startTestApp(opts: {
  env?: Record<string, string | undefined>;
  config?: AppConfig;
  imports?: (Type | DynamicModule)[];
  listen?: boolean;
  logDestination?: DestinationStream;
}): Promise<TestApp> {
  const config = opts.config ?? testConfig(opts.env ?? {});
  const app = await createApp(config, {
    imports: opts.imports,
    logDestination: opts.logDestination,
  });
  let url: string | undefined;
  if (opts.listen) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = await app.getUrl();
    url = url.replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  }
  return { app, config, url, close: () => app.close() };
}
