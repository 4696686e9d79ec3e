import { AppError } from './app-error';

/** A server we depend on, as logs name it. */
export type BackingService = 'database' | 'redis';

/**
 * Thrown where a call to a backing server failed because the server could not
 * be reached (not because it refused the command), so the client gets a 503
 * and the log names the server.
 */
export class BackingServiceUnavailableError extends Error {
  constructor(
    readonly service: BackingService,
    cause: unknown,
  ) {
    super(`${service} unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'BackingServiceUnavailableError';
  }
}

/**
 * What a client gets while the database or Redis is unreachable: 503 and a
 * retryable code, instead of a 500 that reads like a bug. CONTRACT §2 has no
 * code of its own for our backing servers, so this is its retryable 503,
 * `provider_unavailable`; the message names no server and no cause.
 */
export function serviceUnavailable(): AppError {
  return new AppError(
    'provider_unavailable',
    'the service is temporarily unavailable; try again shortly',
  );
}

/** Socket-level failures, from node:net or a driver that passes them through. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs meaning "not now" rather than "wrong": class 08
 * (connection exception), 57P01–57P03 (shutting down, crashed, starting up),
 * 53300 (too many connections).
 */
const POSTGRES_UNAVAILABLE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;

/** node-postgres reports a connection lost or never made with these messages and no code. */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];

/**
 * The backing server `err` says could not be reached, or undefined: our own
 * {@link BackingServiceUnavailableError}, or a database driver's lost or
 * refused connection (Kysely passes pg's errors through unchanged).
 */
export function unavailableService(err: unknown): BackingService | undefined {
  if (err instanceof BackingServiceUnavailableError) return err.service;
  // Duck-typed: errors made by Node itself are not `instanceof Error` inside a vm context (Jest).
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || POSTGRES_UNAVAILABLE.test(code)))
    return 'database';
  return typeof message === 'string' && PG_CONNECTION_MESSAGES.some((m) => message.startsWith(m))
    ? 'database'
    : undefined;
}
