import {
  applyDecorators,
  CanActivate,
  ExecutionContext,
  HttpCode,
  RawBodyRequest,
  Type,
  UseGuards,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Public } from '../common/auth/auth.decorators';
import { AppError } from '../common/errors/app-error';

/** A webhook request as a signature guard sees it: headers, the raw bytes, the URL. */
export type WebhookRequest = RawBodyRequest<FastifyRequest>;

/** The error for any missing, malformed, wrong or stale signature: 400, nothing stored. */
export function invalidSignature(
  message = 'the webhook signature is missing or invalid',
): AppError {
  return new AppError('invalid_signature', message);
}

/** The exact bytes the provider signed; a request without them cannot be verified. */
export function rawBodyOf(request: WebhookRequest): Buffer {
  if (!Buffer.isBuffer(request.rawBody))
    throw invalidSignature('the webhook has no body to verify');
  return request.rawBody;
}

/** A header's single value; undefined when absent or repeated (a repeated one is not trusted). */
export function headerOf(request: WebhookRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The base of every provider's webhook signature guard. A subclass implements
 * {@link verify}: return `false` (or throw {@link invalidSignature} with a more
 * precise message) when the request is not genuinely the provider's. Any other
 * `AppError` passes through (e.g. `provider_disabled`); any other exception,
 * typically a crypto routine choking on a malformed header, is an invalid
 * signature too — never a 500 that would make the provider retry a forgery.
 */
export abstract class WebhookSignatureGuard implements CanActivate {
  protected abstract verify(request: WebhookRequest): boolean | Promise<boolean>;

  /** Synchronous when {@link verify} is: a webhook's hot path makes no promise it does not need. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<WebhookRequest>();
    let valid: boolean | Promise<boolean>;
    try {
      valid = this.verify(request);
    } catch (err) {
      return refused(err);
    }
    return typeof valid === 'boolean' ? accepted(valid) : valid.then(accepted, refused);
  }
}

function accepted(valid: boolean): true {
  if (!valid) throw invalidSignature();
  return true;
}

function refused(err: unknown): never {
  if (err instanceof AppError) throw err;
  throw invalidSignature();
}

/**
 * Marks a provider's webhook route: no API key (the signature instead), not
 * rate limited, guarded by `guard`, answering 200.
 */
export function WebhookEndpoint(guard: Type<WebhookSignatureGuard>): MethodDecorator {
  return applyDecorators(Public(), UseGuards(guard), HttpCode(200));
}
