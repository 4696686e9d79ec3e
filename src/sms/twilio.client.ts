import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import type * as https from 'node:https';
import twilio from 'twilio';
import type TwilioRequestClient from 'twilio/lib/base/RequestClient';
import type TwilioResponse from 'twilio/lib/http/response';
import { maskString } from '../common/logging/mask';
import { RateLimiter } from '../common/rate-limit/rate-limiter';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import { safeTwilioMessage, TwilioError } from './twilio-error';
import { neverSent } from '../common/http/request-never-sent';

/** The route Twilio posts status callbacks and inbound messages to. */
export const TWILIO_WEBHOOK_PATH = '/webhooks/twilio';

/** Longest wait inside one call (a `Retry-After` or the backoff); a longer one is left to the job's schedule. */
export const MAX_IN_CALL_WAIT_MS = 2000;
const IN_CALL_BACKOFF_BASE_MS = 100;

export interface SendSmsParams {
  /** Our message id: named in the status callback URL, so a callback finds the message without its SID. */
  messageId: string;
  to: string;
  body: string;
  /** Overrides the configured sender. */
  from?: string;
}

/** The status callback URL's query parameter naming our message (signed by Twilio with the URL). */
export const TWILIO_CALLBACK_MESSAGE_PARAM = 'message';

export interface SentSms {
  /** Twilio's Message SID. */
  sid: string;
  /** Twilio's status in its answer (`queued`, or `accepted` through a Messaging Service). */
  status: string;
  /** Null while a Messaging Service has not picked the sender yet. */
  from: string | null;
  errorCode: number | null;
}

export interface SendSmsOptions {
  /** Runs right before every HTTP request to Twilio (after the rate limiter let it go). */
  beforeRequest?: () => Promise<void>;
}

/** The waits between quick retries inside one call, as a port so tests observe them instead of sleeping. */
@Injectable()
export class TwilioRetryWait {
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }
}

/** One `sendMessage` attempt, followed through the SDK into our RequestClient. */
interface CallScope {
  beforeRequest: () => Promise<void>;
  response?: { status: number; headers: Record<string, unknown> };
}

const currentCall = new AsyncLocalStorage<CallScope>();

/**
 * twilio 6 has no base-URL option (DESIGN "Provider facts"): its RequestClient
 * is the seam. Ours sends every request to `TWILIO_API_BASE_URL` when set,
 * with the per-attempt timeout, runs the caller's before-request hook (rate
 * limit, attempt count) and keeps the response headers (`Retry-After`), which
 * the SDK's exceptions drop.
 */
class BaseUrlRequestClient extends twilio.RequestClient {
  // The SDK only builds an HTTPS agent; an http:// base (an emulator) gets this one.
  private readonly plainAgent = new http.Agent({ keepAlive: true });

  constructor(
    private readonly base: URL | undefined,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true, autoRetry: false });
    this.axios.defaults.httpAgent = this.plainAgent;
  }

  override async request<TData>(
    opts: TwilioRequestClient.RequestOptions<TData>,
  ): Promise<TwilioResponse<TData>> {
    const call = currentCall.getStore();
    await call?.beforeRequest();
    const response = await super.request<TData>({ ...opts, uri: this.rewrite(opts.uri) });
    if (call)
      call.response = {
        status: response.statusCode,
        headers: response.headers as Record<string, unknown>,
      };
    return response;
  }

  /** Ends open connections: an in-flight request fails at once instead of outliving the app. */
  destroy(): void {
    this.plainAgent.destroy();
    (this.axios.defaults.httpsAgent as https.Agent | undefined)?.destroy();
  }

  private rewrite(uri: string): string {
    if (!this.base) return uri;
    const target = new URL(uri);
    const prefix = this.base.pathname.replace(/\/+$/, '');
    return `${this.base.origin}${prefix}${target.pathname}${target.search}`;
  }
}

function headerValue(
  headers: Record<string, unknown> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name] ?? headers[name.toLowerCase()];
  const value: unknown = Array.isArray(direct) ? direct[0] : direct;
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

/** `Retry-After` in seconds or as an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Checks `X-Twilio-Signature` with the SDK's own routine: base64
 * HMAC-SHA1(auth token, url + each param name and value, sorted by name).
 * `url` must be the public URL Twilio called, never one derived from the request.
 */
export function isValidTwilioSignature(
  authToken: string,
  signature: string,
  url: string,
  params: Record<string, string | string[]>,
): boolean {
  return twilio.validateRequest(authToken, signature, url, params);
}

/**
 * The Twilio client (DESIGN: the only file importing `twilio`). Takes and
 * returns our types; every request is rate limited, has a timeout, and a
 * retryable failure is retried a few times at once (`PROVIDER_MAX_RETRIES`)
 * before it is handed back as a {@link TwilioError} for the job to retry later.
 *
 * Twilio has no idempotency key for creating messages: a request that timed
 * out or lost its connection may have been accepted, so it is not retried
 * within the call (an `unknown` {@link TwilioError}); the message's own id in
 * the status callback URL lets Twilio's callback name it meanwhile. A refused
 * connection or an HTTP error cannot have sent anything and is retried.
 */
@Injectable()
export class TwilioClient implements OnApplicationShutdown {
  private readonly logger = new Logger(TwilioClient.name);
  private readonly http: BaseUrlRequestClient;
  private sdk?: twilio.Twilio;
  private closed = false;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly rateLimiter: RateLimiter,
    private readonly retryWait: TwilioRetryWait,
  ) {
    const base = config.twilio.apiBaseUrl ? new URL(config.twilio.apiBaseUrl) : undefined;
    this.http = new BaseUrlRequestClient(base, config.providers.timeoutMs);
  }

  get enabled(): boolean {
    return this.config.twilio.enabled;
  }

  /** Where Twilio posts a message's status callbacks: our webhook, naming the message. */
  statusCallbackUrl(messageId: string): string {
    const query = new URLSearchParams({ [TWILIO_CALLBACK_MESSAGE_PARAM]: messageId });
    return `${this.config.http.publicBaseUrl}${TWILIO_WEBHOOK_PATH}?${query.toString()}`;
  }

  /** The sender a message gets when the client names none: null when a Messaging Service picks it. */
  get defaultFrom(): string | null {
    return this.config.twilio.messagingServiceSid ? null : (this.config.twilio.fromNumber ?? null);
  }

  /** Creates the message at Twilio; throws {@link TwilioError} (anything else is a bug). */
  async sendMessage(params: SendSmsParams, options: SendSmsOptions = {}): Promise<SentSms> {
    const sdk = this.client();
    const { messagingServiceSid, fromNumber } = this.config.twilio;
    const sender = params.from
      ? { from: params.from }
      : messagingServiceSid
        ? { messagingServiceSid }
        : { from: fromNumber };
    const request = {
      to: params.to,
      body: params.body,
      statusCallback: this.statusCallbackUrl(params.messageId),
      ...sender,
    };
    const beforeRequest = async (): Promise<void> => {
      if (this.closed) throw new TwilioError('retryable', 'the Twilio client is shutting down');
      await this.rateLimiter.acquire('twilio');
      await options.beforeRequest?.();
    };

    for (let retry = 0; ; retry += 1) {
      const call: CallScope = { beforeRequest };
      try {
        const message = await currentCall.run(call, () => sdk.messages.create(request));
        return {
          sid: message.sid,
          status: message.status,
          from: message.from ?? null,
          errorCode: message.errorCode ?? null,
        };
      } catch (err) {
        const failure = this.toTwilioError(err, call);
        if (!failure) throw err;
        const delayMs = failure.retryAfterMs ?? this.backoffMs(retry);
        const giveUp =
          failure.kind !== 'retryable' ||
          this.closed ||
          retry >= this.config.providers.maxRetries ||
          delayMs > MAX_IN_CALL_WAIT_MS;
        this.logger.warn(
          {
            kind: failure.kind,
            httpStatus: failure.details.httpStatus,
            code: failure.details.code,
            providerMessage:
              failure.details.providerMessage && maskString(failure.details.providerMessage),
            retry,
            willRetryNow: !giveUp,
          },
          'twilio request failed',
        );
        if (giveUp) throw failure;
        await this.retryWait.wait(delayMs);
      }
    }
  }

  onApplicationShutdown(): void {
    this.closed = true;
    this.http.destroy();
  }

  private client(): twilio.Twilio {
    const { enabled, accountSid, authToken } = this.config.twilio;
    if (!enabled || !accountSid || !authToken) throw new Error('Twilio is not configured');
    this.sdk ??= twilio(accountSid, authToken, { httpClient: this.http, lazyLoading: true });
    return this.sdk;
  }

  /** Exponential with "equal jitter": at least half the step, so a quick retry is never instant. */
  private backoffMs(retry: number): number {
    const step = Math.min(MAX_IN_CALL_WAIT_MS, IN_CALL_BACKOFF_BASE_MS * 2 ** retry);
    return Math.round(step / 2 + (Math.random() * step) / 2);
  }

  /** Our view of an SDK or network failure; undefined for anything else (a bug, rethrown as is). */
  private toTwilioError(err: unknown, call: CallScope): TwilioError | undefined {
    if (err instanceof TwilioError) return err;
    const e = err as {
      status?: unknown;
      code?: unknown;
      message?: unknown;
      isAxiosError?: unknown;
    } | null;
    if (!e || typeof e !== 'object') return undefined;
    const providerMessage = typeof e.message === 'string' ? e.message : undefined;

    // RestException (legacy) and TwilioServiceException (RFC 9457) both carry the HTTP status.
    if (
      typeof e.status === 'number' &&
      (err instanceof twilio.RestException || call.response?.status === e.status)
    ) {
      const httpStatus = e.status;
      const code = typeof e.code === 'number' ? e.code : undefined;
      const retryAfterMs = parseRetryAfter(
        headerValue(call.response?.headers, 'retry-after'),
        Date.now(),
      );
      if (httpStatus === 409 || httpStatus === 429 || httpStatus >= 500 || httpStatus < 400) {
        const safe =
          httpStatus === 429 ? 'Twilio is rate limiting our requests' : 'Twilio is unavailable';
        return new TwilioError('retryable', safe, {
          httpStatus,
          code,
          providerMessage,
          retryAfterMs,
        });
      }
      return new TwilioError('permanent', safeTwilioMessage(code ?? httpStatus), {
        httpStatus,
        code,
        providerMessage,
      });
    }

    // No HTTP answer: refused, reset, DNS, or our timeout (axios reports them all).
    if (e.isAxiosError === true) {
      const code = typeof e.code === 'string' ? e.code : 'network';
      const details = { providerMessage: `${code}: ${providerMessage ?? ''}` };
      if (neverSent(code))
        return new TwilioError('retryable', 'Twilio could not be reached', details);
      const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT';
      return new TwilioError(
        'unknown',
        timedOut
          ? 'Twilio did not answer in time'
          : 'the connection to Twilio failed before it answered',
        details,
      );
    }
    return undefined;
  }
}
