import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StoredResponse } from './stored-response';
import { toAppError, toErrorBody } from './to-app-error';
import { unavailableService } from './unavailable';

/** The one place that writes error responses: every failure gets the contract's shape. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();

    if (exception instanceof StoredResponse) {
      void reply
        .status(exception.status)
        .headers(exception.headers)
        .type('application/json; charset=utf-8')
        .send(exception.body);
      return;
    }

    const err = toAppError(exception);
    const unavailable = unavailableService(exception);
    if (unavailable) {
      // Answered 503 (unavailable.ts); the log says which server, the client only that it may retry.
      this.logger.warn(
        { service: unavailable, err: String((exception as { message?: unknown }).message) },
        'backing service unavailable',
      );
    } else if (err.code === 'internal_error') {
      this.logger.error(
        {
          err:
            exception instanceof Error
              ? { type: exception.name, message: exception.message, stack: exception.stack }
              : String(exception),
        },
        'unhandled error',
      );
    }
    if (err.headers) void reply.headers(err.headers);
    void reply
      .status(err.status)
      .type('application/json; charset=utf-8')
      .send(toErrorBody(err, String(request.id)));
  }
}
