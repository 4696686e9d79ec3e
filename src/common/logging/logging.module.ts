import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from '../../config/app.config';
import { APP_CONFIG } from '../../config/config.module';
import { maskDeep } from './mask';

/** The service's one pino logger: Nest's logger writes through it, and so do the request lines. */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/**
 * Structured JSON logs (pino): one line per request plus whatever services log,
 * each with the request id; every log object passes through {@link maskDeep}.
 *
 * nestjs-pino adapts the logger to Nest's `LoggerService` and keeps the
 * per-request logger in its async-local store; its own request middleware
 * (pino-http, run through Nest's Express-style middleware layer) is not used:
 * {@link installRequestLogging} does the same from two Fastify hooks at a
 * fraction of the cost per request (bench/webhooks).
 */
@Module({})
export class LoggingModule {
  /** `destination` replaces stdout (tests read the lines back). */
  static forRoot(destination?: DestinationStream): DynamicModule {
    const root = {
      module: RootLoggerModule,
      providers: [
        {
          provide: ROOT_LOGGER,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig): Logger => createRootLogger(config, destination),
        },
      ],
      exports: [ROOT_LOGGER],
    };
    return {
      module: LoggingModule,
      global: true,
      imports: [
        root,
        LoggerModule.forRootAsync({
          imports: [root],
          inject: [ROOT_LOGGER],
          // No routes: nestjs-pino's middleware is replaced by installRequestLogging.
          useFactory: (logger: Logger) => ({ pinoHttp: { logger }, forRoutes: [] }),
        }),
      ],
      exports: [root],
    };
  }
}

@Module({})
class RootLoggerModule {}

export function createRootLogger(config: AppConfig, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.log.level,
      serializers: {
        // Our lines pass `err` as a plain `{ type, message }` (or a string): keep it as given.
        // pino's own serializer takes any object with a message for an Error and replaces its
        // `type` with the object's constructor: every such line read "type":"Object".
        err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value),
      },
      formatters: {
        log: (obj: Record<string, unknown>) => maskDeep(obj) as Record<string, unknown>,
      },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.authorization',
          '*.apiKey.secret',
        ],
        censor: '[REDACTED]',
      },
    },
    destination ?? process.stdout,
  );
}
