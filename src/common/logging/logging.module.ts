import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppConfig } from '../../config/app.config';
import { APP_CONFIG } from '../../config/config.module';
import type { DestinationStream } from 'pino';
import { maskDeep, maskString } from './mask';

/**
 * Structured JSON logs (pino): one line per request plus whatever services log,
 * each with the request id; every log object passes through {@link maskDeep}.
 */
@Module({})
export class LoggingModule {
  /** `destination` replaces stdout (tests read the lines back). */
  static forRoot(destination?: DestinationStream): DynamicModule {
    return { module: LoggingModule, imports: [loggerModule(destination)] };
  }
}

function loggerModule(destination?: DestinationStream): DynamicModule {
  return LoggerModule.forRootAsync({
    inject: [APP_CONFIG],
    useFactory: (config: AppConfig) => ({
      pinoHttp: [
        {
          level: config.log.level,
          // Fastify has already chosen the id (our genReqId); reuse it so every line agrees.
          genReqId: (req: IncomingMessage) =>
            (req as IncomingMessage & { id?: string }).id ?? 'unknown',
          customAttributeKeys: { reqId: 'requestId' },
          // Every line logged while serving a request carries just its id; the request itself once, at the end.
          quietReqLogger: true,
          // Evaluated again when the response is logged, after the guard named the caller.
          customProps: (req: IncomingMessage) => ({
            apiKey: (req as IncomingMessage & { principal?: { name: string } }).principal?.name,
          }),
          // Load balancers poll health every few seconds. The logger runs as a middleware
          // (middie), which shows it the URL relative to its mount point: read the original.
          autoLogging: {
            ignore: (req: IncomingMessage & { originalUrl?: string }) =>
              (req.originalUrl ?? req.url ?? '').startsWith('/health/'),
          },
          serializers: {
            req: (req: { method?: string; url?: string }) => ({
              method: req.method,
              url: maskString(req.url ?? ''),
            }),
            res: (res: ServerResponse | { statusCode?: number }) => ({
              statusCode: res.statusCode,
            }),
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
      ],
    }),
  });
}
