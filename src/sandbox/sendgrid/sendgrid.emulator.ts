/**
 * SendGrid emulator: `POST /v3/mail/send` and the Signed Event Webhook.
 *
 * Mail send
 * - `Authorization: Bearer <apiKey>`, else 401 with SendGrid's error body.
 * - The body is validated as SendGrid does (sendgrid-mail-send.validator.ts):
 *   400 with every problem in `errors: [{ message, field, help }]`.
 * - Accepted: 202, empty body, `X-Message-Id` (16 random bytes, base64url: 22 chars).
 * - `mail_settings.sandbox_mode.enable: true`: validated, then 200 with an empty
 *   body; nothing is stored and no events follow (as on the live API).
 *
 * Event Webhook
 * After an accepted send, events are POSTed to `webhookUrl` as JSON arrays
 * (one batch per stage, `eventDelayMs` apart), signed with ECDSA P-256 exactly
 * as SendGrid signs (sendgrid-event-webhook.signer.ts) and re-signed with the
 * attempt's time on every redelivery. Each recipient (to, cc and bcc of every
 * personalization) gets its own `sg_message_id` = `<X-Message-Id>.recvd-…`.
 *
 * Special recipients (domain `sandbox.switchboard.test`; a `+tag` is allowed
 * in the local part, e.g. `bounce+order-42@sandbox.switchboard.test`):
 * | recipient                              | events, in stage order                          |
 * |----------------------------------------|-------------------------------------------------|
 * | `bounce@sandbox.switchboard.test`      | processed → bounce (`type: 'bounce'`, 5.1.1)    |
 * | `blocked@sandbox.switchboard.test`     | processed → bounce (`type: 'blocked'`, 5.7.1)   |
 * | `dropped@sandbox.switchboard.test`     | dropped (`reason: 'Bounced Address'`), nothing else — SendGrid drops before processing |
 * | `deferred@sandbox.switchboard.test`    | processed → deferred (`attempt: '1'`) → delivered |
 * | anything else                          | processed → delivered                           |
 *
 * Control API: `POST /__sandbox/trigger` sends a signed batch on demand (see
 * {@link SendgridTriggerBody}) — duplicates, `open`/`click`, out-of-order.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import type {
  EmulatorContext,
  EmulatorDefinition,
  EmulatorRequest,
  EmulatorResponse,
} from '../core/types';
import {
  assertP256PrivateKey,
  generateEventWebhookKey,
  publicKeyBase64,
  serializeEventBatch,
  signEventBatch,
} from './sendgrid-event-webhook.signer';
import { validateMailSend, type SendgridFieldError } from './sendgrid-mail-send.validator';

export const SENDGRID_SANDBOX_DOMAIN = 'sandbox.switchboard.test';
export const SENDGRID_BOUNCE_RECIPIENT = `bounce@${SENDGRID_SANDBOX_DOMAIN}`;
export const SENDGRID_BLOCKED_RECIPIENT = `blocked@${SENDGRID_SANDBOX_DOMAIN}`;
export const SENDGRID_DROPPED_RECIPIENT = `dropped@${SENDGRID_SANDBOX_DOMAIN}`;
export const SENDGRID_DEFERRED_RECIPIENT = `deferred@${SENDGRID_SANDBOX_DOMAIN}`;

export const DEFAULT_EVENT_DELAY_MS = 20;
export const MAIL_SEND_PATH = '/v3/mail/send';
export const RATE_LIMIT_PER_MINUTE = 600;

export const UNAUTHORIZED_MESSAGE =
  'The provided authorization grant is invalid, expired, or revoked';

export type RecipientOutcome = 'delivered' | 'bounce' | 'blocked' | 'dropped' | 'deferred';

/** One Event Webhook event; custom args appear as extra top-level keys. */
export interface SendgridEvent {
  email: string;
  timestamp: number;
  event: string;
  sg_event_id: string;
  sg_message_id: string;
  [field: string]: unknown;
}

export interface SendgridAcceptedMessage {
  id: string;
  request: unknown;
  recipients: string[];
  acceptedAt: string;
}

export interface SendgridEmulatorState {
  messages: SendgridAcceptedMessage[];
  /** Every event emitted (scheduled or triggered), in emission order. */
  events: SendgridEvent[];
  webhookUrl: string | null;
}

/**
 * `POST /__sandbox/trigger` body: either `{ events: [...] }` or one event's
 * fields at the top level. Missing fields are filled in: `event` (`processed`),
 * `timestamp` (now), `sg_event_id` (new — pass an old one for a duplicate),
 * `email` and `sg_message_id` (from `messageId` when it names an accepted
 * message, else generated), `smtp-id`. Any other field is passed through.
 */
export interface SendgridTriggerBody {
  events?: Partial<SendgridEvent>[];
  messageId?: string;
  /** Overrides the configured webhook URL for this batch. */
  url?: string;
  [field: string]: unknown;
}

export interface SendgridEmulatorOptions {
  apiKey: string;
  webhookUrl?: string;
  /** ECDSA P-256 signing key; one is generated when absent. */
  privateKey?: KeyObject;
  /** Delay between event stages (processed → delivered …), ms. */
  eventDelayMs?: number;
}

export interface SendgridTriggerResult {
  url: string;
  events: SendgridEvent[];
}

export interface SendgridEmulator extends EmulatorDefinition {
  /** The Event Webhook verification key: base64 DER (SPKI), as SendGrid shows it. */
  publicKeyBase64(): string;
  /** Point the Event Webhook elsewhere (e.g. once the app knows its port). */
  setWebhookUrl(url: string | undefined): void;
  state(): SendgridEmulatorState;
  trigger(body: unknown, ctx: EmulatorContext): SendgridTriggerResult;
}

export function recipientOutcome(email: string): RecipientOutcome {
  const at = email.lastIndexOf('@');
  if (at < 0 || email.slice(at + 1).toLowerCase() !== SENDGRID_SANDBOX_DOMAIN) return 'delivered';
  const local = email.slice(0, at).toLowerCase().split('+')[0];
  switch (local) {
    case 'bounce':
    case 'blocked':
    case 'dropped':
    case 'deferred':
      return local;
    default:
      return 'delivered';
  }
}

type EventKind = 'processed' | 'dropped' | 'deferred' | 'delivered' | 'bounce' | 'blocked';

/** Event kinds per stage for each outcome; stage n is emitted at (n + 1) × eventDelayMs. */
const PLANS: Record<RecipientOutcome, readonly EventKind[]> = {
  delivered: ['processed', 'delivered'],
  bounce: ['processed', 'bounce'],
  blocked: ['processed', 'blocked'],
  dropped: ['dropped'],
  deferred: ['processed', 'deferred', 'delivered'],
};

function outcomeFields(kind: EventKind): Record<string, unknown> {
  switch (kind) {
    case 'processed':
      return {};
    case 'delivered':
      return { response: '250 OK' };
    case 'deferred':
      return { response: '451 4.7.1 Temporarily deferred, try again later', attempt: '1' };
    case 'dropped':
      return { reason: 'Bounced Address', status: '5.0.0' };
    case 'bounce':
      return {
        type: 'bounce',
        reason: '550 5.1.1 The email account that you tried to reach does not exist',
        status: '5.1.1',
        bounce_classification: 'Invalid Address',
      };
    case 'blocked':
      return {
        type: 'blocked',
        reason: '550 5.7.1 Message rejected by the recipient server',
        status: '5.7.1',
        bounce_classification: 'Reputation',
      };
  }
}

interface Recipient {
  email: string;
  sgMessageId: string;
  common: Record<string, unknown>;
  plan: readonly EventKind[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function errors(...list: SendgridFieldError[]): { errors: SendgridFieldError[] } {
  return { errors: list };
}

function newEventId(): string {
  return randomBytes(16).toString('base64');
}

function smtpId(messageId: string): string {
  return `<${messageId}@ismtpd-sandbox>`;
}

function sgMessageId(messageId: string, ordinal: number, at: Date): string {
  const hexTime = unixSeconds(at).toString(16).toUpperCase();
  return `${messageId}.recvd-sandbox-${ordinal}-${hexTime}-0.0`;
}

/** Custom args as SendGrid flattens them: message-level, overridden per personalization. */
function customArgs(
  body: Record<string, unknown>,
  p: Record<string, unknown>,
): Record<string, unknown> {
  return {
    ...(isRecord(body.custom_args) ? body.custom_args : {}),
    ...(isRecord(p.custom_args) ? p.custom_args : {}),
  };
}

function recipientsOf(messageId: string, body: Record<string, unknown>, at: Date): Recipient[] {
  const out: Recipient[] = [];
  const personalizations = Array.isArray(body.personalizations) ? body.personalizations : [];
  const categories = Array.isArray(body.categories) ? (body.categories as unknown[]) : undefined;
  const asmGroupId = isRecord(body.asm) ? body.asm.group_id : undefined;
  for (const p of personalizations) {
    if (!isRecord(p)) continue;
    for (const kind of ['to', 'cc', 'bcc'] as const) {
      const list = p[kind];
      if (!Array.isArray(list)) continue;
      for (const entry of list) {
        if (!isRecord(entry) || typeof entry.email !== 'string') continue;
        const common: Record<string, unknown> = {
          // Custom args first so that SendGrid's own fields always win a name clash.
          ...customArgs(body, p),
          'smtp-id': smtpId(messageId),
          ...(categories && categories.length > 0 ? { category: categories } : {}),
          ...(asmGroupId !== undefined ? { asm_group_id: asmGroupId } : {}),
        };
        out.push({
          email: entry.email,
          sgMessageId: sgMessageId(messageId, out.length, at),
          common,
          plan: PLANS[recipientOutcome(entry.email)],
        });
      }
    }
  }
  return out;
}

function buildEvent(r: Recipient, kind: EventKind, at: Date): SendgridEvent {
  return {
    ...r.common,
    email: r.email,
    timestamp: unixSeconds(at),
    event: kind === 'blocked' ? 'bounce' : kind,
    sg_event_id: newEventId(),
    sg_message_id: r.sgMessageId,
    ...outcomeFields(kind),
  };
}

function parseJson(raw: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw.toString('utf8')) as unknown };
  } catch {
    return { ok: false };
  }
}

export function createSendgridEmulator(opts: SendgridEmulatorOptions): SendgridEmulator {
  const privateKey = opts.privateKey ?? generateEventWebhookKey();
  assertP256PrivateKey(privateKey);
  const publicKey = publicKeyBase64(privateKey);
  const eventDelayMs = opts.eventDelayMs ?? DEFAULT_EVENT_DELAY_MS;
  let webhookUrl = opts.webhookUrl;

  const messages = new Map<string, SendgridAcceptedMessage & { recipientList: Recipient[] }>();
  const events: SendgridEvent[] = [];

  function send(url: string | undefined, batch: SendgridEvent[], ctx: EmulatorContext): void {
    if (batch.length === 0) return;
    events.push(...batch);
    if (url === undefined) return;
    const body = serializeEventBatch(batch);
    const resign = (b: string): Record<string, string> =>
      signEventBatch(b, unixSeconds(ctx.now()), privateKey);
    ctx.deliver({
      url,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'SendGrid Event API',
        ...resign(body),
      },
      body,
      resign,
    });
  }

  function scheduleEvents(recipients: Recipient[], ctx: EmulatorContext): void {
    const stages = Math.max(...recipients.map((r) => r.plan.length));
    for (let stage = 0; stage < stages; stage++) {
      ctx.later(eventDelayMs * (stage + 1), () => {
        const at = ctx.now();
        const batch = recipients.flatMap((r) => {
          const kind = r.plan[stage];
          return kind === undefined ? [] : [buildEvent(r, kind, at)];
        });
        send(webhookUrl, batch, ctx);
      });
    }
  }

  function mailSend(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse {
    const parsed = parseJson(req.rawBody);
    if (!parsed.ok) {
      return { status: 400, body: errors({ message: 'Bad Request', field: null, help: null }) };
    }
    const problems = validateMailSend(parsed.value);
    if (problems.length > 0) return { status: 400, body: errors(...problems) };

    const body = parsed.value as Record<string, unknown>;
    const mailSettings = isRecord(body.mail_settings) ? body.mail_settings : {};
    if (isRecord(mailSettings.sandbox_mode) && mailSettings.sandbox_mode.enable === true) {
      return { status: 200 };
    }

    const id = randomBytes(16).toString('base64url');
    const now = ctx.now();
    const recipientList = recipientsOf(id, body, now);
    messages.set(id, {
      id,
      request: body,
      recipients: recipientList.map((r) => r.email),
      acceptedAt: now.toISOString(),
      recipientList,
    });
    scheduleEvents(recipientList, ctx);
    return { status: 202, headers: { 'X-Message-Id': id } };
  }

  function fillEvent(
    partial: Record<string, unknown>,
    messageId: unknown,
    at: Date,
  ): SendgridEvent {
    const { messageId: ownMessageId, ...fields } = partial;
    const id =
      typeof ownMessageId === 'string'
        ? ownMessageId
        : typeof messageId === 'string'
          ? messageId
          : undefined;
    const known = id === undefined ? undefined : messages.get(id);
    const email =
      typeof fields.email === 'string'
        ? fields.email
        : (known?.recipientList[0]?.email ?? 'recipient@example.com');
    const recipient = known?.recipientList.find((r) => r.email === email);
    const msgId = id ?? randomBytes(16).toString('base64url');
    return {
      ...(recipient?.common ?? { 'smtp-id': smtpId(msgId) }),
      event: 'processed',
      timestamp: unixSeconds(at),
      sg_event_id: newEventId(),
      sg_message_id: recipient?.sgMessageId ?? sgMessageId(msgId, 0, at),
      ...fields,
      email,
    };
  }

  return {
    name: 'sendgrid',

    handle(req, ctx) {
      if (req.headers.authorization !== `Bearer ${opts.apiKey}`) {
        return {
          status: 401,
          body: errors({ message: UNAUTHORIZED_MESSAGE, field: null, help: null }),
        };
      }
      if (req.path !== MAIL_SEND_PATH) {
        return { status: 404, body: errors({ message: 'not found', field: null, help: null }) };
      }
      if (req.method !== 'POST') {
        return {
          status: 405,
          body: errors({ message: 'method not allowed', field: null, help: null }),
        };
      }
      return mailSend(req, ctx);
    },

    rateLimitHeaders(now: Date) {
      // SendGrid's reset is the epoch second at which the current window ends.
      const nextMinute = Math.floor(now.getTime() / 60_000 + 1) * 60;
      return {
        'X-RateLimit-Limit': String(RATE_LIMIT_PER_MINUTE),
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(nextMinute),
      };
    },

    errorBody(status) {
      const message =
        status === 429
          ? 'too many requests'
          : status === 503
            ? 'service unavailable'
            : 'internal server error';
      return errors({ message, field: null, help: null });
    },

    reset() {
      messages.clear();
      events.length = 0;
    },

    trigger(body, ctx) {
      if (!isRecord(body)) throw new TypeError('SendGrid trigger: expected a JSON object');
      const { events: partials, url, messageId, ...single } = body as SendgridTriggerBody;
      const target = typeof url === 'string' ? url : webhookUrl;
      if (target === undefined) {
        throw new Error('SendGrid trigger: no webhook URL (pass `url` or configure webhookUrl)');
      }
      let list: Record<string, unknown>[];
      if (partials === undefined) {
        list = [single];
      } else if (Array.isArray(partials) && partials.every(isRecord)) {
        list = partials;
      } else {
        throw new TypeError('SendGrid trigger: `events` must be an array of objects');
      }
      const at = ctx.now();
      const batch = list.map((partial) => fillEvent(partial, messageId, at));
      send(target, batch, ctx);
      return { url: target, events: batch };
    },

    state() {
      return {
        messages: [...messages.values()].map(
          ({ recipientList: _recipients, ...message }) => message,
        ),
        events: [...events],
        webhookUrl: webhookUrl ?? null,
      };
    },

    publicKeyBase64: () => publicKey,

    setWebhookUrl(url) {
      webhookUrl = url;
    },
  };
}
