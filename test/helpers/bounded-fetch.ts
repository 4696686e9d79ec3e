import { bearer } from './app';

/** Far above what a request takes when it fails fast, far below "hangs". */
export const CLIENT_TIMEOUT_MS = 5000;

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/**
 * A request over a real connection with a client-side timeout, for suites that
 * take a backing service away: a hang fails the test instead of stalling it.
 */
export async function boundedFetch(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonAnswer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.key ? bearer(opts.key) : {}),
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}
