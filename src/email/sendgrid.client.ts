import { Inject, Injectable, Optional } from '@nestjs/common';
import { Client } from '@sendgrid/client';
import { MailService, type MailDataRequired } from '@sendgrid/mail';
import { Clock } from '../common/clock';
import { RateLimiter } from '../common/rate-limit/rate-limiter';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import {
  DEFAULT_SENDGRID_CLIENT_OPTIONS,
  SENDGRID_CLIENT_OPTIONS,
  type SendgridClientOptions,
} from './sendgrid-client.options';
import { neverSent } from '../common/http/request-never-sent';

/** One SendGrid personalization: who gets one copy of the message. */
export interface OutgoingPersonalization {
  to: string[];
  cc?: string[];
  bcc?: string[];
}

/** An email as our service hands it to SendGrid. */
export interface OutgoingEmail {
  from: string;
  replyTo?: string;
  subject?: string;
  text?: string;
  html?: string;
  /** A dynamic template (`d-…`); its data goes to every personalization. */
  templateId?: string;
  templateData?: Record<string, unknown>;
  categories?: string[];
  personalizations: OutgoingPersonalization[];
  /**
   * Returned by SendGrid on every event about this email. Sent with each
   * personalization: the spec types only that level as an object.
   */
  customArgs: Record<string, string>;
}

export interface SendResult {
  /** `X-Message-Id`: what each event's `sg_message_id` starts with, before SendGrid's own suffix. */
  providerMessageId: string | null;
  /** Requests made, the successful one included. */
  requests: number;
}

/**
 * `rejected`: SendGrid refused the request itself (a 4xx other than 408,
 * 409, 429); sending it again cannot help. `unavailable`: it answered with a
 * failure or could not be reached, so it has not taken the email, and a
 * later attempt may succeed. `unknown`: the request went out and no answer
 * came back (a timeout, a connection dropped mid-request): SendGrid may have
 * taken the email, and sending it again at once could deliver it twice.
 */
export type SendgridFailureKind = 'rejected' | 'unavailable' | 'unknown';

/** A SendGrid error from one error body entry, for our logs only. */
export interface SendgridErrorDetail {
  message: string;
  field: string | null;
}

/** A failed send. `message` is ours and safe to show; SendGrid's own words are in `providerErrors`, for logs. */
export class SendgridError extends Error {
  constructor(
    readonly kind: SendgridFailureKind,
    message: string,
    /** Requests made during the failed call. */
    readonly requests: number,
    readonly status?: number,
    /** When SendGrid named a time to come back (`Retry-After`, `X-RateLimit-Reset`). */
    readonly retryAfterMs?: number,
    readonly providerErrors: SendgridErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'SendgridError';
  }
}

export interface Failure {
  kind: SendgridFailureKind;
  message: string;
  status?: number;
  delayMs?: number;
  providerErrors: SendgridErrorDetail[];
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== name) continue;
    if (typeof value === 'string') return value;
    if (typeof value === 'number') return String(value);
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  }
  return undefined;
}

/**
 * The wait SendGrid asks for: `Retry-After` (seconds or an HTTP date), else
 * `X-RateLimit-Reset` (the epoch second its rate-limit window resets; a small
 * number is read as seconds from now). Undefined when it names none.
 */
export function namedRetryDelayMs(headers: unknown, nowMs: number): number | undefined {
  const retryAfter = headerValue(headers, 'retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  const reset = headerValue(headers, 'x-ratelimit-reset')?.trim();
  if (reset && /^\d+$/.test(reset)) {
    const value = Number(reset);
    return value > 1_000_000_000 ? Math.max(0, value * 1000 - nowMs) : value * 1000;
  }
  return undefined;
}

function providerErrorsOf(body: unknown): SendgridErrorDetail[] {
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.map((e: unknown) => {
    const entry = (e ?? {}) as { message?: unknown; field?: unknown };
    return {
      message: typeof entry.message === 'string' ? entry.message : 'unknown',
      field: typeof entry.field === 'string' ? entry.field : null,
    };
  });
}

function rejectedMessage(status: number): string {
  switch (status) {
    case 400:
      return 'SendGrid rejected the email as invalid (HTTP 400)';
    case 401:
    case 403:
      return `SendGrid refused Switchboard's credentials (HTTP ${status})`;
    case 413:
      return 'the email is too large for SendGrid (HTTP 413)';
    default:
      return `SendGrid rejected the email (HTTP ${status})`;
  }
}

/** How one failed request should be treated; exported for unit tests. */
export function classifySendgridFailure(err: unknown, nowMs: number, timeoutMs: number): Failure {
  const e = (err ?? {}) as {
    code?: unknown;
    isAxiosError?: unknown;
    response?: { headers?: unknown; body?: unknown };
  };
  if (typeof e.code === 'number' && e.response) {
    // @sendgrid/client's ResponseError: `code` is the HTTP status.
    const status = e.code;
    const providerErrors = providerErrorsOf(e.response.body);
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    if (!retryable) {
      return { kind: 'rejected', message: rejectedMessage(status), status, providerErrors };
    }
    return {
      kind: 'unavailable',
      message:
        status === 429
          ? 'SendGrid rate-limited the request (HTTP 429)'
          : `SendGrid failed the request (HTTP ${status})`,
      status,
      delayMs: namedRetryDelayMs(e.response.headers, nowMs),
      providerErrors,
    };
  }
  if (e.isAxiosError === true || typeof e.code === 'string') {
    const code = typeof e.code === 'string' ? e.code : 'network error';
    if (neverSent(code))
      return {
        kind: 'unavailable',
        message: `could not reach SendGrid (${code})`,
        providerErrors: [],
      };
    const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT';
    return {
      kind: 'unknown',
      message: timedOut
        ? `SendGrid did not answer within ${timeoutMs} ms`
        : `the connection to SendGrid failed before it answered (${code})`,
      providerErrors: [],
    };
  }
  // The SDK refused to build the request (its Mail helper throws on bad data): never sent, never sendable.
  return {
    kind: 'rejected',
    message: 'the email could not be prepared for SendGrid',
    providerErrors: [{ message: err instanceof Error ? err.message : String(err), field: null }],
  };
}

function toMailData(email: OutgoingEmail): MailDataRequired {
  const list = (addresses?: string[]) =>
    addresses && addresses.length > 0
      ? addresses.map((address) => ({ email: address }))
      : undefined;
  const data = {
    from: { email: email.from },
    replyTo: email.replyTo === undefined ? undefined : { email: email.replyTo },
    subject: email.subject,
    text: email.text,
    html: email.html,
    templateId: email.templateId,
    dynamicTemplateData: email.templateData,
    categories: email.categories,
    personalizations: email.personalizations.map((p) => ({
      to: list(p.to) ?? [],
      cc: list(p.cc),
      bcc: list(p.bcc),
      customArgs: email.customArgs,
    })),
    // The SDK prints a console warning for some template data characters; our logs are structured.
    hideWarnings: true,
  };
  // One of text, html or templateId is always set: the service validated it.
  return data as MailDataRequired;
}

/**
 * SendGrid Mail Send through `@sendgrid/mail` (the only file that imports
 * it). The SDK has no timeout and no retries of its own, so both are ours:
 * `PROVIDER_TIMEOUT_MS` per request, and up to `PROVIDER_MAX_RETRIES` quick
 * retries of a refused connection, 408, 409, 429 or 5xx, waiting as long as
 * SendGrid asks (`Retry-After`, `X-RateLimit-Reset`) when that is short,
 * else handing the wait back to the job queue. Every request first takes a
 * token from the outbound rate limiter (`SENDGRID_MAX_RPS`).
 *
 * SendGrid has no idempotency keys. A request that timed out or lost its
 * connection after it was sent may have been accepted, so it is not retried
 * within the call: the job tries again after `unknownOutcomeRetryMs`, by
 * when SendGrid's `processed` event has normally said whether it was taken.
 * Delivery is still at least once (without the Event Webhook, or when the
 * event is late, it is sent again), but not many times over.
 */
@Injectable()
export class SendgridClient {
  private readonly mail?: MailService;
  private readonly options: SendgridClientOptions;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;

  constructor(
    @InjectConfig() config: AppConfig,
    private readonly rateLimiter: RateLimiter,
    private readonly clock: Clock,
    @Optional()
    @Inject(SENDGRID_CLIENT_OPTIONS)
    options?: Partial<SendgridClientOptions>,
  ) {
    this.options = { ...DEFAULT_SENDGRID_CLIENT_OPTIONS, ...options };
    this.timeoutMs = config.providers.timeoutMs;
    this.maxRetries = config.providers.maxRetries;
    const { enabled, apiKey, apiBaseUrl } = config.sendgrid;
    if (enabled && apiKey) {
      // Our own Client, not the SDK's shared singleton; setApiKey() resets the
      // base URL to api.sendgrid.com, so the base URL must be set after it.
      const client = new Client();
      client.setApiKey(apiKey);
      if (apiBaseUrl) client.setDefaultRequest('baseUrl', apiBaseUrl);
      const mail = new MailService();
      mail.setClient(client);
      mail.setTimeout(this.timeoutMs);
      this.mail = mail;
    }
  }

  get enabled(): boolean {
    return this.mail !== undefined;
  }

  /** Sends one email (all its personalizations in one request); throws {@link SendgridError}. */
  async send(email: OutgoingEmail): Promise<SendResult> {
    const mail = this.mail;
    if (!mail) throw new SendgridError('unavailable', 'SendGrid is not configured', 0);
    const data = toMailData(email);
    for (let request = 1; ; request++) {
      await this.rateLimiter.acquire('sendgrid');
      let failure: Failure;
      try {
        const [response] = await mail.send(data);
        return {
          providerMessageId: headerValue(response.headers, 'x-message-id') ?? null,
          requests: request,
        };
      } catch (err) {
        failure = classifySendgridFailure(err, this.clock.now().getTime(), this.timeoutMs);
      }
      const delayMs =
        failure.kind === 'unknown'
          ? this.options.unknownOutcomeRetryMs
          : failure.delayMs === undefined
            ? undefined
            : Math.min(failure.delayMs, this.options.maxNamedDelayMs);
      const retryHere =
        failure.kind === 'unavailable' &&
        request <= this.maxRetries &&
        (delayMs === undefined || delayMs <= this.options.maxInCallWaitMs);
      if (!retryHere) {
        throw new SendgridError(
          failure.kind,
          failure.message,
          request,
          failure.status,
          delayMs,
          failure.providerErrors,
        );
      }
      await sleep(delayMs ?? fullJitterMs(request, this.options.retryBaseMs));
    }
  }
}

/** Uniform in [0, base · 2^(n−1)]: retries of many calls that failed together spread out. */
function fullJitterMs(retry: number, baseMs: number): number {
  return Math.floor(Math.random() * (baseMs * 2 ** Math.min(retry - 1, 10) + 1));
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}
