import { DynamicModule, Global, Inject, Module } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { AppConfig } from './app.config';

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Injects the validated {@link AppConfig}. */
export const InjectConfig = (): ParameterDecorator => Inject(APP_CONFIG);

/** Provides the already validated configuration to the whole application. */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}

/**
 * The process environment, with `.env` applied underneath when present
 * (variables already set win). The only place that reads `process.env`.
 */
export function readProcessEnv(envFile = '.env'): Record<string, string | undefined> {
  if (existsSync(envFile)) process.loadEnvFile(envFile);
  return { ...process.env };
}
