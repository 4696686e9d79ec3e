/** Every error code of CONTRACT.md §2 "Errors". */
export type ErrorCode =
  | 'validation_failed'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_state'
  | 'idempotency_key_in_use'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'card_declined'
  | 'idempotency_key_reused'
  | 'refund_exceeds_payment'
  | 'provider_rejected'
  | 'rate_limited'
  | 'provider_disabled'
  | 'provider_unavailable'
  | 'invalid_signature'
  | 'https_required'
  | 'internal_error';

/** The HTTP status of each code; the switch is exhaustive so a new code cannot be forgotten. */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'validation_failed':
    case 'invalid_signature':
      return 400;
    case 'unauthorized':
      return 401;
    case 'card_declined':
      return 402;
    case 'forbidden':
    case 'https_required':
      return 403;
    case 'not_found':
      return 404;
    case 'method_not_allowed':
      return 405;
    case 'invalid_state':
    case 'idempotency_key_in_use':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'idempotency_key_reused':
    case 'refund_exceeds_payment':
    case 'provider_rejected':
      return 422;
    case 'rate_limited':
      return 429;
    case 'provider_disabled':
    case 'provider_unavailable':
      return 503;
    case 'internal_error':
      return 500;
  }
}

export type ErrorDetail = Record<string, unknown>;

/** A failure the client should see as it is: code, safe message, optional details. */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = statusOf(code);
  }

  static validation(details: { field: string; message: string }[]): AppError {
    const message =
      details.length > 0 ? details.map((d) => d.message).join('; ') : 'invalid request';
    return new AppError('validation_failed', message, details);
  }

  static notFound(what = 'resource'): AppError {
    return new AppError('not_found', `${what} not found`);
  }
}

export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  message: string;
  details?: ErrorDetail[];
  requestId: string;
}
