import { HttpException } from '@nestjs/common';
import { AppError, ErrorBody, ErrorCode } from './app-error';
import { serviceUnavailable, unavailableService } from './unavailable';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
}

const BY_STATUS: Record<number, [ErrorCode, string]> = {
  400: ['validation_failed', 'the request is malformed'],
  401: ['unauthorized', 'a valid API key is required'],
  403: ['forbidden', 'this API key may not use this route'],
  404: ['not_found', 'no such route'],
  405: ['method_not_allowed', 'method not allowed on this route'],
  413: ['payload_too_large', 'the request body is larger than 1 MiB'],
  415: ['unsupported_media_type', 'the request body must be application/json'],
  429: ['rate_limited', 'too many requests'],
};

/**
 * Turns anything thrown into an {@link AppError}: ours as is; Nest's and
 * Fastify's HTTP errors by status (malformed JSON, body limit, unknown route,
 * throttling); an unreachable database or Redis as a retryable 503; everything
 * else is an internal error whose message never reaches the client.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HttpException) {
    const mapped = BY_STATUS[err.getStatus()];
    if (mapped) {
      const [code, message] = mapped;
      if (code === 'validation_failed' && /json/i.test(err.message)) {
        return new AppError(code, 'the request body is not valid JSON');
      }
      return new AppError(code, message);
    }
    if (err.getStatus() < 500) return new AppError('validation_failed', 'the request is malformed');
  }
  const fastify = err as FastifyLikeError | null;
  if (
    fastify &&
    typeof fastify.statusCode === 'number' &&
    typeof fastify.code === 'string' &&
    fastify.code.startsWith('FST_')
  ) {
    const mapped = BY_STATUS[fastify.statusCode];
    if (
      fastify.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      fastify.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
    ) {
      return new AppError('validation_failed', 'the request body is not valid JSON');
    }
    if (mapped) return new AppError(mapped[0], mapped[1]);
  }
  if (err instanceof SyntaxError && /JSON/.test(err.message)) {
    return new AppError('validation_failed', 'the request body is not valid JSON');
  }
  if (unavailableService(err)) return serviceUnavailable();
  return new AppError('internal_error', 'internal error');
}

export function toErrorBody(err: AppError, requestId: string): ErrorBody {
  const body: ErrorBody = {
    statusCode: err.status,
    code: err.code,
    message: err.message,
    requestId,
  };
  if (err.details && err.details.length > 0) body.details = err.details;
  return body;
}
