import {
  CallHandler,
  ExecutionContext,
  HttpStatus,
  Injectable,
  Logger,
  NestInterceptor,
  RawBodyRequest,
  UseInterceptors,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { from, Observable, catchError, mergeMap, switchMap } from 'rxjs';
import { Clock } from '../clock';
import { pathOf } from '../http/http-setup';
import { AppError } from '../errors/app-error';
import { StoredResponse } from '../errors/stored-response';
import { toAppError, toErrorBody } from '../errors/to-app-error';
import { IdempotencyRepository } from './idempotency.repository';

declare module 'fastify' {
  interface FastifyRequest {
    /** `<api key name>:<Idempotency-Key>` when the client sent one; provider keys derive from it. */
    idempotencyScopeKey?: string;
  }
}

/** How long a running request holds its key before a retry may take it over (the first one crashed). */
export const IDEMPOTENCY_LOCK_MS = 2 * 60 * 1000;
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/** Kept, per CONTRACT "Idempotency": 2xx and the 4xx a handler decides (402, 404, 409 invalid_state, 422). */
function isKept(err: AppError): boolean {
  // A handler that finds the key bound to another request (its own record of an earlier try)
  // decided nothing about this one: keeping the refusal would bind the key to it instead.
  if (err.code === 'idempotency_key_reused') return false;
  return (
    err.status === 402 || err.status === 404 || err.status === 422 || err.code === 'invalid_state'
  );
}

/**
 * Stripe's idempotency semantics for create-`POST`s: the first request runs,
 * its outcome is kept for 24 h and replayed byte-for-byte; a different request
 * with the key is 422, and any request while the first runs is 409.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger(IdempotencyInterceptor.name);

  constructor(
    private readonly repo: IdempotencyRepository,
    private readonly reflector: Reflector,
    private readonly clock: Clock,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<RawBodyRequest<FastifyRequest>>();
    const header = request.headers['idempotency-key'];
    if (header === undefined) return next.handle();
    const key = Array.isArray(header) ? header[0] : header;
    if (!KEY_PATTERN.test(key)) {
      throw AppError.validation([
        {
          field: 'Idempotency-Key',
          message: 'Idempotency-Key must be 1–255 printable ASCII characters',
        },
      ]);
    }
    const scope = request.principal?.name ?? 'anonymous';
    const successStatus =
      this.reflector.get<number | undefined>(HTTP_CODE_METADATA, context.getHandler()) ??
      (request.method === 'POST' ? HttpStatus.CREATED : HttpStatus.OK);
    const fingerprint = createHash('sha256')
      // CONTRACT: the same method, path and body (the query string is not part of it).
      .update(`${request.method} ${pathOf(request.url)}\n`)
      .update(
        Buffer.isBuffer(request.rawBody) ? request.rawBody : JSON.stringify(request.body ?? null),
      )
      .digest('hex');

    return from(
      this.repo.claim(scope, key, fingerprint, this.clock.now(), IDEMPOTENCY_LOCK_MS),
    ).pipe(
      switchMap((claim) => {
        if (claim.kind === 'running') {
          throw new AppError(
            'idempotency_key_in_use',
            'a request with this Idempotency-Key is still running',
          );
        }
        if (claim.kind === 'done') {
          if (claim.row.fingerprint !== fingerprint) {
            throw new AppError(
              'idempotency_key_reused',
              'this Idempotency-Key was used for a different request',
            );
          }
          throw new StoredResponse(
            claim.row.response_status ?? 200,
            claim.row.response_body ?? '',
            {
              'idempotent-replayed': 'true',
            },
          );
        }
        request.idempotencyScopeKey = `${scope}:${key}`;
        const { token } = claim;
        return next.handle().pipe(
          catchError(async (err: unknown) => {
            const appError = toAppError(err);
            if (isKept(appError)) {
              await this.keep(scope, key, token, appError.status, () =>
                JSON.stringify(toErrorBody(appError, String(request.id))),
              );
            } else {
              await this.repo.release(scope, key, token);
            }
            throw err;
          }),
          // After catchError, so a failure to keep a response is not taken for the handler's.
          mergeMap(async (value: unknown) => {
            await this.keep(scope, key, token, successStatus, () => JSON.stringify(value) ?? '');
            return value;
          }),
        );
      }),
    );
  }

  /**
   * Keeps the outcome for replays. The handler has acted by now: if keeping
   * fails, the client still gets its answer (a 503 would invite a retry that
   * acts again), and the key stays locked until its lock runs out.
   */
  private async keep(
    scope: string,
    key: string,
    token: string,
    status: number,
    body: () => string,
  ): Promise<void> {
    try {
      if (!(await this.repo.complete(scope, key, token, status, body())))
        this.logger.warn({ scope, status }, 'idempotency key was taken over; response not kept');
    } catch (err) {
      this.logger.error(
        { scope, status, err: err instanceof Error ? err.message : String(err) },
        'could not keep the response of an idempotent request',
      );
    }
  }
}

/** Applies {@link IdempotencyInterceptor} to a create-or-change `POST` handler. */
export const Idempotent = (): MethodDecorator & ClassDecorator =>
  UseInterceptors(IdempotencyInterceptor);
