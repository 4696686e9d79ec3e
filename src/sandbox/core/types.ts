import type { IncomingHttpHeaders } from 'node:http';

/**
 * The shared shape of the three provider emulators. Each emulator is a plain
 * object implementing {@link EmulatorDefinition}; `EmulatorServer`
 * (emulator-server.ts) wraps it in a node:http server and adds faults, the
 * request log and the `/__sandbox/...` control API, identically for all three.
 *
 * The sandbox never imports anything outside `src/sandbox/` (DESIGN.md): it
 * must build and sign every payload on its own.
 */

export type ProviderName = 'stripe' | 'twilio' | 'sendgrid';

/** A request as the emulator sees it, after the fault layer let it through. */
export interface EmulatorRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/payment_intents/pi_123`. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are serialised as JSON with `content-type: application/json`. */
  body?: unknown;
}

/** One webhook the emulator wants delivered (the server retries on non-2xx). */
export interface OutgoingWebhook {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Re-sign just before each attempt (Stripe signs with the attempt's time). */
  resign?: (body: string) => Record<string, string>;
}

/** What the server gives an emulator: a clock and a way to send webhooks. */
export interface EmulatorContext {
  now(): Date;
  /** Queue a webhook; the server delivers it and redelivers on non-2xx or a network error. */
  deliver(webhook: OutgoingWebhook): void;
  /** Schedule work after a delay (status-callback progressions); cancelled on stop/reset. */
  later(ms: number, fn: () => void): void;
  /** The emulator's own base URL, e.g. `http://127.0.0.1:12111`. */
  baseUrl(): string;
}

export interface EmulatorDefinition {
  readonly name: ProviderName;
  handle(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse | Promise<EmulatorResponse>;
  /** The provider's own rate-limit headers, added to injected 429s; `now` is the emulator's clock. */
  rateLimitHeaders(now: Date): Record<string, string>;
  /** The provider's own error body for an injected 429 / 5xx. */
  errorBody(status: number): unknown;
  /** Forget all state (objects, idempotency keys, pending events). */
  reset(): void;
  /** `POST /__sandbox/trigger` with a JSON body: emit an event on demand. */
  trigger?(body: unknown, ctx: EmulatorContext): unknown;
  /** `GET /__sandbox/state`: a JSON snapshot for tests (e.g. all objects created). */
  state?(): unknown;
}

/**
 * `hang`: the request is never handled nor answered. `lost_response`: it is
 * handled (the provider acts on it) but the answer never comes, as when a
 * response is lost on the way back or comes after the client gave up.
 */
export type FaultKind =
  'rate_limit' | 'server_error' | 'unavailable' | 'latency' | 'hang' | 'lost_response' | 'reset';

/** One fault applied to one request. */
export interface Fault {
  kind: FaultKind;
  /** For `latency`: added milliseconds before the request is handled normally. */
  ms?: number;
}

export interface FaultOptions {
  /** Probabilities 0..1 per request, checked in this order. */
  rateLimitRate?: number;
  serverErrorRate?: number;
  unavailableRate?: number;
  resetRate?: number;
  hangRate?: number;
  /** Added to every request, in ms. */
  latencyMs?: number;
  /** Exact faults for the next N requests (consumed first, one per request). */
  queue?: Fault[];
  /** Only requests whose path starts with this are subject to faults (control API never is). */
  pathPrefix?: string;
}

export interface WebhookDeliveryOptions {
  /** Delays between redeliveries after a non-2xx, in ms (shortened from the providers'). */
  retryScheduleMs?: number[];
  /** Per attempt timeout, ms. */
  timeoutMs?: number;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What happened: the status answered, or the fault applied. */
  status: number | FaultKind;
  at: string;
  /** The injected fault, when one was applied (a `latency` fault still ends with a status). */
  fault?: FaultKind;
  /** The message of an error the definition threw (answered 500). */
  error?: string;
}

export interface DeliveryRecord {
  url: string;
  body: string;
  attempts: { at: string; status: number | 'network_error'; error?: string }[];
  delivered: boolean;
}
