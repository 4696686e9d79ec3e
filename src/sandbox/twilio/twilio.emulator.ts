/**
 * Twilio Messages API emulator (Programmable Messaging, API version 2010-04-01).
 *
 * Routes (Basic auth with the account SID and auth token on every route):
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` → 201 Message
 * - `GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json` → 200 Message
 *
 * Twilio's magic test numbers (https://www.twilio.com/docs/iam/test-credentials):
 * - From `+15005550006` is valid (as is each `validFrom`); From `+15005550001`
 *   → 21212, `+15005550007` → 21606, `+15005550008` → 21611; any other From → 21606.
 * - To `+15005550001` → 21211, `+15005550002` → 21612, `+15005550003` → 21408,
 *   `+15005550004` → 21610, `+15005550009` → 21614. All 400, nothing stored.
 *
 * Our own special recipients (not Twilio's: the `+1500555001x` range is
 * unused by its magic numbers). They are accepted (201) and end badly later:
 * - {@link TWILIO_UNDELIVERED_TO} `+15005550011`: queued → sent → undelivered,
 *   ErrorCode 30005 (unknown destination handset).
 * - {@link TWILIO_FAILED_TO} `+15005550012`: queued → failed, ErrorCode 30006
 *   (landline or unreachable carrier); never sent, so no `date_sent` or price.
 * Every other valid recipient: queued → sent → delivered.
 *
 * Status callbacks: each status change is a `ctx.later(callbackDelayMs)` step
 * after the previous one; when the message has a StatusCallback, each step
 * posts a form to exactly that URL, signed with `X-Twilio-Signature` and
 * carrying an `I-Twilio-Idempotency-Token` unique per callback (the server
 * redelivers the same headers, so the token is stable across retries).
 * A message sent through a Messaging Service without From starts `accepted`
 * with `from: null` and `num_segments: "0"`; the sender is assigned at `queued`.
 */
import { randomUUID } from 'node:crypto';
import type {
  EmulatorContext,
  EmulatorDefinition,
  EmulatorRequest,
  EmulatorResponse,
} from '../core/types';
import {
  TWILIO_API_VERSION,
  type TwilioErrorBody,
  countSegments,
  isValidAddress,
  newSid,
  parseBasicAuth,
  parseForm,
  rfc2822,
  twilioError,
  twilioSignature,
} from './twilio-wire';

export const TWILIO_VALID_FROM = '+15005550006';
export const TWILIO_UNDELIVERED_TO = '+15005550011';
export const TWILIO_UNDELIVERED_ERROR_CODE = 30005;
export const TWILIO_FAILED_TO = '+15005550012';
export const TWILIO_FAILED_ERROR_CODE = 30006;
export const TWILIO_MAX_BODY_CHARS = 1600;
export const TWILIO_DEFAULT_CALLBACK_DELAY_MS = 20;
/** Seconds in the `Retry-After` of an injected 429. */
export const TWILIO_RETRY_AFTER_SECONDS = 1;

/** Twilio's documented errors for its magic To numbers. */
export const TWILIO_MAGIC_TO: Readonly<Record<string, { code: number; message: string }>> = {
  '+15005550001': {
    code: 21211,
    message: "The 'To' number +15005550001 is not a valid phone number.",
  },
  '+15005550002': {
    code: 21612,
    message: "The 'To' phone number: +15005550002, is not currently reachable via SMS.",
  },
  '+15005550003': {
    code: 21408,
    message:
      "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550003.",
  },
  '+15005550004': { code: 21610, message: 'Attempt to send to unsubscribed recipient' },
  '+15005550009': { code: 21614, message: "'To' number +15005550009 is not a valid mobile number" },
};

/** Twilio's documented errors for its magic From numbers. */
export const TWILIO_MAGIC_FROM: Readonly<Record<string, { code: number; message: string }>> = {
  '+15005550001': {
    code: 21212,
    message:
      "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
  },
  '+15005550007': {
    code: 21606,
    message:
      "The 'From' phone number provided (+15005550007) is not a valid message-capable Twilio phone number for this destination/account.",
  },
  '+15005550008': {
    code: 21611,
    message: "This 'From' number +15005550008 has exceeded the maximum number of queued messages.",
  },
};

const DELIVERY_ERRORS: Readonly<Record<number, string>> = {
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30008: 'Unknown error',
};

export type TwilioMessageStatus =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'failed'
  | 'delivered'
  | 'undelivered'
  | 'receiving'
  | 'received'
  | 'accepted'
  | 'scheduled'
  | 'read'
  | 'partially_delivered'
  | 'canceled';

const STATUSES: readonly TwilioMessageStatus[] = [
  'queued',
  'sending',
  'sent',
  'failed',
  'delivered',
  'undelivered',
  'receiving',
  'received',
  'accepted',
  'scheduled',
  'read',
  'partially_delivered',
  'canceled',
];

/** Forward-only order used when a trigger moves a message (a late callback never moves it back). */
const STATUS_RANK: Readonly<Record<TwilioMessageStatus, number>> = {
  accepted: 0,
  scheduled: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  receiving: 3,
  received: 4,
  delivered: 4,
  undelivered: 4,
  failed: 4,
  partially_delivered: 4,
  canceled: 4,
  read: 5,
};

/** The Message resource exactly as Twilio serialises it (`api.v2010.account.message`). */
export interface TwilioMessageResource {
  account_sid: string;
  api_version: string;
  body: string;
  date_created: string;
  date_sent: string | null;
  date_updated: string;
  direction: 'inbound' | 'outbound-api';
  error_code: number | null;
  error_message: string | null;
  from: string | null;
  messaging_service_sid: string | null;
  num_media: string;
  num_segments: string;
  price: string | null;
  price_unit: string | null;
  sid: string;
  status: TwilioMessageStatus;
  subresource_uris: { media: string };
  to: string;
  uri: string;
}

export interface TwilioSentCallback {
  status: TwilioMessageStatus;
  url: string;
  idempotencyToken: string;
  params: Record<string, string>;
}

/** One message in `state()`: the resource plus what the emulator did with it. */
export interface TwilioMessageState extends TwilioMessageResource {
  status_callback: string | null;
  callbacks: TwilioSentCallback[];
}

export interface TwilioEmulatorOptions {
  accountSid: string;
  authToken: string;
  /** Senders accepted besides Twilio's magic `+15005550006`. */
  validFrom?: string[];
  /** Messaging Services accepted; when omitted, any well-formed `MG…` SID is. */
  messagingServiceSids?: string[];
  /** Delay between status steps (and before the first callback); default 20 ms. */
  callbackDelayMs?: number;
}

/** `POST /__sandbox/trigger` bodies. */
export type TwilioTrigger =
  | {
      messageSid: string;
      status: TwilioMessageStatus;
      /** For failed/undelivered; defaults to the message's own error code, else 30008. */
      errorCode?: number;
      /** Reuse a token to emulate a duplicate; a fresh one otherwise. */
      idempotencyToken?: string;
      /** Defaults to the message's StatusCallback. */
      url?: string;
    }
  | {
      inbound: {
        from: string;
        to: string;
        body: string;
        url: string;
        messagingServiceSid?: string;
        media?: { url: string; contentType: string }[];
      };
    };

export interface TwilioTriggerResult {
  messageSid: string;
  status: TwilioMessageStatus;
  url: string;
  idempotencyToken: string;
}

/** The emulator, with the definition's methods narrowed to Twilio's shapes. */
export interface TwilioEmulator extends EmulatorDefinition {
  readonly accountSid: string;
  readonly authToken: string;
  handle(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse;
  rateLimitHeaders(): Record<string, string>;
  errorBody(status: number): TwilioErrorBody;
  trigger(body: unknown, ctx: EmulatorContext): TwilioTriggerResult;
  state(): { messages: TwilioMessageState[] };
  /** A copy of one message as GET returns it, or undefined. */
  message(sid: string): TwilioMessageResource | undefined;
}

interface StoredMessage {
  resource: TwilioMessageResource;
  statusCallback: string | null;
  callbacks: TwilioSentCallback[];
}

/** Thrown by `trigger` for a body it cannot act on. */
export class TwilioTriggerError extends Error {
  override readonly name = 'TwilioTriggerError';
}

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const MESSAGE_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\.json$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

export function createTwilioEmulator(opts: TwilioEmulatorOptions): TwilioEmulator {
  const { accountSid, authToken } = opts;
  const validFrom = new Set([TWILIO_VALID_FROM, ...(opts.validFrom ?? [])]);
  const services = opts.messagingServiceSids ? new Set(opts.messagingServiceSids) : null;
  const delayMs = opts.callbackDelayMs ?? TWILIO_DEFAULT_CALLBACK_DELAY_MS;
  const defaultSender = opts.validFrom?.[0] ?? TWILIO_VALID_FROM;
  const messages = new Map<string, StoredMessage>();
  // Bumped on reset so timers scheduled before it become no-ops.
  let generation = 0;

  const json = (status: number, body: unknown): EmulatorResponse => ({
    status,
    headers: { 'Twilio-Request-Id': newSid('RQ') },
    body,
  });
  const fail = (status: number, code: number, message: string): EmulatorResponse =>
    json(status, twilioError(status, code, message));
  const notFound = (path: string): EmulatorResponse =>
    fail(404, 20404, `The requested resource ${path} was not found`);

  function messageUri(sid: string): string {
    return `/${TWILIO_API_VERSION}/Accounts/${accountSid}/Messages/${sid}.json`;
  }

  function signedWebhook(url: string, params: Record<string, string>, token: string) {
    return {
      url,
      body: new URLSearchParams(params).toString(),
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        'User-Agent': 'TwilioProxy/1.1',
        'X-Twilio-Signature': twilioSignature(authToken, url, params),
        'I-Twilio-Idempotency-Token': token,
      },
    };
  }

  function statusParams(
    m: TwilioMessageResource,
    status: TwilioMessageStatus,
    errorCode: number | null,
  ) {
    const params: Record<string, string> = {
      ApiVersion: TWILIO_API_VERSION,
      AccountSid: accountSid,
      MessageSid: m.sid,
      SmsSid: m.sid,
      MessageStatus: status,
      SmsStatus: status,
      From: m.from ?? '',
      To: m.to,
    };
    if (m.messaging_service_sid) params.MessagingServiceSid = m.messaging_service_sid;
    if ((status === 'failed' || status === 'undelivered') && errorCode !== null) {
      params.ErrorCode = String(errorCode);
    }
    return params;
  }

  function sendStatusCallback(
    ctx: EmulatorContext,
    stored: StoredMessage,
    status: TwilioMessageStatus,
    errorCode: number | null,
    url: string,
    token: string = randomUUID(),
  ): TwilioSentCallback {
    const params = statusParams(stored.resource, status, errorCode);
    ctx.deliver(signedWebhook(url, params, token));
    const sent = { status, url, idempotencyToken: token, params };
    stored.callbacks.push(sent);
    return sent;
  }

  /** Apply one step of the life cycle to the stored resource. */
  function applyStatus(
    m: TwilioMessageResource,
    status: TwilioMessageStatus,
    errorCode: number | null,
    at: Date,
  ) {
    m.status = status;
    m.date_updated = rfc2822(at);
    if (status === 'queued' && m.from === null) {
      m.from = defaultSender;
      m.num_segments = String(countSegments(m.body).segments);
    }
    if (status === 'sent' && m.date_sent === null) {
      m.date_sent = rfc2822(at);
      m.price = (-0.0079 * Number(m.num_segments)).toFixed(5);
    }
    if (status === 'failed' || status === 'undelivered') {
      const code = errorCode ?? 30008;
      m.error_code = code;
      m.error_message = DELIVERY_ERRORS[code] ?? null;
    }
  }

  function lifeCycle(to: string): { status: TwilioMessageStatus; errorCode: number | null }[] {
    if (to === TWILIO_UNDELIVERED_TO) {
      return [
        { status: 'queued', errorCode: null },
        { status: 'sent', errorCode: null },
        { status: 'undelivered', errorCode: TWILIO_UNDELIVERED_ERROR_CODE },
      ];
    }
    if (to === TWILIO_FAILED_TO) {
      return [
        { status: 'queued', errorCode: null },
        { status: 'failed', errorCode: TWILIO_FAILED_ERROR_CODE },
      ];
    }
    return [
      { status: 'queued', errorCode: null },
      { status: 'sent', errorCode: null },
      { status: 'delivered', errorCode: null },
    ];
  }

  function scheduleSteps(ctx: EmulatorContext, sid: string) {
    const gen = generation;
    const stored = messages.get(sid);
    if (!stored) return;
    const steps = lifeCycle(stored.resource.to);
    const step = (i: number): void => {
      const current = messages.get(sid);
      if (gen !== generation || !current || i >= steps.length) return;
      const { status, errorCode } = steps[i];
      applyStatus(current.resource, status, errorCode, ctx.now());
      if (current.statusCallback) {
        sendStatusCallback(ctx, current, status, errorCode, current.statusCallback);
      }
      ctx.later(delayMs, () => step(i + 1));
    };
    ctx.later(delayMs, () => step(0));
  }

  /** First failing check in Twilio's order, or null when the request is acceptable. */
  function validate(form: Map<string, string[]>): TwilioErrorBody | null {
    const one = (k: string) => form.get(k)?.[0];
    const to = one('To');
    const from = one('From');
    const service = one('MessagingServiceSid');
    const body = one('Body') ?? '';
    const media = form.get('MediaUrl') ?? [];
    const callback = one('StatusCallback');

    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!from && !service) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (body === '' && media.length === 0)
      return twilioError(400, 21602, 'Message body is required.');
    if ([...body].length > TWILIO_MAX_BODY_CHARS) {
      return twilioError(
        400,
        21617,
        'The concatenated message body exceeds the 1600 character limit.',
      );
    }
    if (!isValidAddress(to))
      return twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (callback !== undefined && !/^https?:\/\/[^\s/]+/i.test(callback)) {
      return twilioError(400, 21609, `The StatusCallback URL ${callback} is not a valid URL.`);
    }
    if (from) {
      const magic = TWILIO_MAGIC_FROM[from];
      if (magic) return twilioError(400, magic.code, magic.message);
      if (!validFrom.has(from)) {
        return twilioError(
          400,
          21606,
          `The 'From' phone number provided (${from}) is not a valid message-capable Twilio phone number for this destination/account.`,
        );
      }
      if (from === to) return twilioError(400, 21266, "'To' and 'From' number cannot be the same");
    }
    if (service && (!MESSAGING_SERVICE_SID.test(service) || (services && !services.has(service)))) {
      return twilioError(400, 21701, `The Messaging Service Sid ${service} is invalid.`);
    }
    const magic = TWILIO_MAGIC_TO[to];
    if (magic) return twilioError(400, magic.code, magic.message);
    return null;
  }

  function createMessage(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse {
    const form = parseForm(req.rawBody);
    const error = validate(form);
    if (error) return json(error.status, error);

    const one = (k: string) => form.get(k)?.[0];
    const from = one('From') ?? null;
    const service = one('MessagingServiceSid') ?? null;
    const body = one('Body') ?? '';
    const media = form.get('MediaUrl') ?? [];
    const sid = newSid(media.length > 0 ? 'MM' : 'SM');
    const uri = messageUri(sid);
    const now = rfc2822(ctx.now());
    // Twilio assigns a Messaging Service's sender (and segments) only at `queued`.
    const pendingSender = from === null;
    const resource: TwilioMessageResource = {
      account_sid: accountSid,
      api_version: TWILIO_API_VERSION,
      body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: service,
      num_media: String(media.length),
      num_segments: pendingSender ? '0' : String(countSegments(body).segments),
      price: null,
      price_unit: 'USD',
      sid,
      status: pendingSender ? 'accepted' : 'queued',
      subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
      to: one('To') ?? '',
      uri,
    };
    messages.set(sid, { resource, statusCallback: one('StatusCallback') ?? null, callbacks: [] });
    scheduleSteps(ctx, sid);
    return json(201, { ...resource });
  }

  function handle(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse {
    const auth = parseBasicAuth(req.headers.authorization);
    if (!auth || auth.user !== accountSid || auth.pass !== authToken) {
      const res = fail(401, 20003, 'Authentication Error - invalid username');
      return {
        ...res,
        headers: { ...res.headers, 'WWW-Authenticate': 'Basic realm="Twilio API"' },
      };
    }
    const list = MESSAGES_PATH.exec(req.path);
    const one = MESSAGE_PATH.exec(req.path);
    const account = list?.[1] ?? one?.[1];
    if (account === undefined || account !== accountSid) return notFound(req.path);
    if (list) {
      if (req.method !== 'POST') return fail(405, 20004, 'Method not allowed');
      return createMessage(req, ctx);
    }
    if (req.method !== 'GET') return fail(405, 20004, 'Method not allowed');
    const stored = messages.get(one?.[2] ?? '');
    return stored ? json(200, { ...stored.resource }) : notFound(req.path);
  }

  function triggerStatus(
    input: Record<string, unknown>,
    ctx: EmulatorContext,
  ): TwilioTriggerResult {
    const sid = input.messageSid;
    const status = input.status;
    if (typeof sid !== 'string') throw new TwilioTriggerError('messageSid must be a string');
    if (typeof status !== 'string' || !STATUSES.includes(status as TwilioMessageStatus)) {
      throw new TwilioTriggerError(`status must be one of ${STATUSES.join(', ')}`);
    }
    const stored = messages.get(sid);
    if (!stored) throw new TwilioTriggerError(`no message ${sid}`);
    const url = typeof input.url === 'string' ? input.url : stored.statusCallback;
    if (!url)
      throw new TwilioTriggerError(`message ${sid} has no StatusCallback and no url was given`);
    const next = status as TwilioMessageStatus;
    const errorCode =
      typeof input.errorCode === 'number' ? input.errorCode : (stored.resource.error_code ?? 30008);
    if (STATUS_RANK[next] > STATUS_RANK[stored.resource.status]) {
      applyStatus(stored.resource, next, errorCode, ctx.now());
    }
    const token = typeof input.idempotencyToken === 'string' ? input.idempotencyToken : undefined;
    const sent = sendStatusCallback(ctx, stored, next, errorCode, url, token);
    return { messageSid: sid, status: next, url, idempotencyToken: sent.idempotencyToken };
  }

  /** An SMS arriving at one of our numbers, posted as Twilio posts to a number's messaging webhook. */
  function triggerInbound(
    input: Record<string, unknown>,
    ctx: EmulatorContext,
  ): TwilioTriggerResult {
    const { from, to, body, url, messagingServiceSid } = input;
    if (
      typeof from !== 'string' ||
      typeof to !== 'string' ||
      typeof body !== 'string' ||
      typeof url !== 'string'
    ) {
      throw new TwilioTriggerError('inbound needs string from, to, body and url');
    }
    const media = Array.isArray(input.media)
      ? (input.media as { url: string; contentType: string }[])
      : [];
    const sid = newSid(media.length > 0 ? 'MM' : 'SM');
    const now = rfc2822(ctx.now());
    const segments = String(countSegments(body).segments);
    const service = typeof messagingServiceSid === 'string' ? messagingServiceSid : null;
    const uri = messageUri(sid);
    const resource: TwilioMessageResource = {
      account_sid: accountSid,
      api_version: TWILIO_API_VERSION,
      body,
      date_created: now,
      date_sent: now,
      date_updated: now,
      direction: 'inbound',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: service,
      num_media: String(media.length),
      num_segments: segments,
      price: null,
      price_unit: 'USD',
      sid,
      status: 'received',
      subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
      to,
      uri,
    };
    const stored: StoredMessage = { resource, statusCallback: null, callbacks: [] };
    messages.set(sid, stored);

    const params: Record<string, string> = {
      ToCountry: '',
      ToState: '',
      SmsMessageSid: sid,
      NumMedia: String(media.length),
      ToCity: '',
      FromZip: '',
      SmsSid: sid,
      FromState: '',
      SmsStatus: 'received',
      FromCity: '',
      Body: body,
      FromCountry: '',
      To: to,
      ToZip: '',
      NumSegments: segments,
      MessageSid: sid,
      AccountSid: accountSid,
      From: from,
      ApiVersion: TWILIO_API_VERSION,
    };
    if (service) params.MessagingServiceSid = service;
    media.forEach((m, i) => {
      params[`MediaContentType${i}`] = m.contentType;
      params[`MediaUrl${i}`] = m.url;
    });
    const token = randomUUID();
    ctx.deliver(signedWebhook(url, params, token));
    stored.callbacks.push({ status: 'received', url, idempotencyToken: token, params });
    return { messageSid: sid, status: 'received', url, idempotencyToken: token };
  }

  return {
    name: 'twilio',
    accountSid,
    authToken,
    handle,
    rateLimitHeaders: () => ({ 'Retry-After': String(TWILIO_RETRY_AFTER_SECONDS) }),
    errorBody(status: number): TwilioErrorBody {
      switch (status) {
        case 429:
          return twilioError(429, 20429, 'Too Many Requests');
        case 500:
          return twilioError(500, 20500, 'Internal Server Error');
        case 503:
          return twilioError(503, 20503, 'Service Unavailable');
        default:
          return twilioError(status, 20000 + status, `HTTP ${status}`);
      }
    },
    trigger(body: unknown, ctx: EmulatorContext): TwilioTriggerResult {
      if (typeof body !== 'object' || body === null)
        throw new TwilioTriggerError('trigger body must be an object');
      const input = body as Record<string, unknown>;
      if (typeof input.inbound === 'object' && input.inbound !== null) {
        return triggerInbound(input.inbound as Record<string, unknown>, ctx);
      }
      return triggerStatus(input, ctx);
    },
    state: () => ({
      messages: [...messages.values()].map((m) => ({
        ...m.resource,
        status_callback: m.statusCallback,
        callbacks: m.callbacks.map((c) => ({ ...c, params: { ...c.params } })),
      })),
    }),
    message(sid: string) {
      const stored = messages.get(sid);
      return stored
        ? { ...stored.resource, subresource_uris: { ...stored.resource.subresource_uris } }
        : undefined;
    },
    reset() {
      messages.clear();
      generation += 1;
    },
  };
}
