/**
 * Network errors raised before a request could reach the server: the
 * connection was refused or never made, so nothing was sent. Any other
 * failure without an answer (a timeout, a reset mid-request) may have been
 * acted on, which matters for providers without idempotency keys.
 */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** True when a request that failed with this network error code cannot have reached the server. */
export function neverSent(code: string): boolean {
  return NEVER_SENT_CODES.has(code);
}
