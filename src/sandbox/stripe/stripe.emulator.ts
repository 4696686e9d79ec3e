import { FormParseError, parseForm } from '../core/form-body';
import type { FormObject } from '../core/form-body';
import type {
  EmulatorContext,
  EmulatorDefinition,
  EmulatorRequest,
  EmulatorResponse,
} from '../core/types';
import {
  StripeApiError,
  errorBody,
  invalidRequest,
  paramError,
  resourceMissing,
  unexpectedState,
  unrecognizedUrl,
} from './stripe-errors';
import { formatAmount } from './stripe-amounts';
import { authenticate } from './stripe-auth';
import { eventWebhook, listEvents } from './stripe-events';
import { IdempotencyStore } from './stripe-idempotency';
import { randomAlphanumeric, requestId as newRequestId, stripeId } from './stripe-ids';
import {
  cardError,
  newCharge,
  newPaymentIntent,
  newPaymentMethod,
  newRefund,
} from './stripe-objects';
import {
  parseConfirmPaymentIntent,
  parseCreatePaymentIntent,
  requireReturnUrl,
} from './stripe-payment-intent-params';
import type { ConfirmOptions } from './stripe-payment-intent-params';
import { StripeParams } from './stripe-params';
import { AUTHENTICATION_REQUIRED, TEST_CARDS } from './stripe-test-cards';
import type { CardDecline, TestCard } from './stripe-test-cards';
import type {
  CancellationReason,
  Charge,
  PaymentIntent,
  PaymentMethod,
  Refund,
  RefundReason,
  StripeErrorObject,
  StripeEvent,
  StripeEventObject,
  StripeEventType,
} from './stripe.types';

/** The version stripe@23 pins; events are rendered in it unless `apiVersion` says otherwise. */
export const STRIPE_DEFAULT_API_VERSION = '2026-10-28.endive';

export interface StripeEmulatorOptions {
  /** The only key accepted (Bearer, or Basic with the key as user name). */
  secretKey: string;
  /** Where events are POSTed; none: events are only listed by `GET /v1/events`. */
  webhookUrl?: string;
  /** The endpoint's `whsec_…` secret; generated when absent (see `webhookSecret`). */
  webhookSecret?: string;
  /** The account's API version: events are rendered in it, and requests without `Stripe-Version` use it. */
  apiVersion?: string;
}

/** `POST /__sandbox/trigger` bodies. */
export type StripeTrigger =
  | { type: StripeEventType; paymentIntent?: string; charge?: string; refund?: string }
  | { resend: string };

export interface StripeState {
  paymentIntents: PaymentIntent[];
  charges: Charge[];
  refunds: Refund[];
  paymentMethods: PaymentMethod[];
  events: StripeEvent[];
}

/** One API call in progress: what its events record under `request`. */
interface Call {
  ctx: EmulatorContext;
  requestId: string | null;
  idempotencyKey: string | null;
  apiVersion: string;
  now: number;
}

interface RouteMatch {
  op: Operation;
  id?: string;
}

type Operation =
  | 'createPaymentIntent'
  | 'retrievePaymentIntent'
  | 'confirmPaymentIntent'
  | 'capturePaymentIntent'
  | 'cancelPaymentIntent'
  | 'createRefund'
  | 'retrieveRefund'
  | 'listEvents'
  | 'retrieveEvent';

const ROUTES: { method: string; pattern: RegExp; op: Operation }[] = [
  { method: 'POST', pattern: /^\/v1\/payment_intents$/, op: 'createPaymentIntent' },
  { method: 'GET', pattern: /^\/v1\/payment_intents\/([^/]+)$/, op: 'retrievePaymentIntent' },
  {
    method: 'POST',
    pattern: /^\/v1\/payment_intents\/([^/]+)\/confirm$/,
    op: 'confirmPaymentIntent',
  },
  {
    method: 'POST',
    pattern: /^\/v1\/payment_intents\/([^/]+)\/capture$/,
    op: 'capturePaymentIntent',
  },
  {
    method: 'POST',
    pattern: /^\/v1\/payment_intents\/([^/]+)\/cancel$/,
    op: 'cancelPaymentIntent',
  },
  { method: 'POST', pattern: /^\/v1\/refunds$/, op: 'createRefund' },
  { method: 'GET', pattern: /^\/v1\/refunds\/([^/]+)$/, op: 'retrieveRefund' },
  { method: 'GET', pattern: /^\/v1\/events$/, op: 'listEvents' },
  { method: 'GET', pattern: /^\/v1\/events\/([^/]+)$/, op: 'retrieveEvent' },
];

const CANCELLATION_REASONS: readonly CancellationReason[] = [
  'duplicate',
  'fraudulent',
  'requested_by_customer',
  'abandoned',
];
const REFUND_REASONS: readonly RefundReason[] = [
  'duplicate',
  'fraudulent',
  'requested_by_customer',
];
const CANCELABLE: readonly PaymentIntent['status'][] = [
  'requires_payment_method',
  'requires_capture',
  'requires_confirmation',
  'requires_action',
  'processing',
];
const CONFIRMABLE: readonly PaymentIntent['status'][] = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
];

function clone<T>(value: T): T {
  return structuredClone(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function header(req: EmulatorRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export class StripeTriggerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StripeTriggerError';
  }
}

/**
 * A stateful Stripe: PaymentIntents (create, retrieve, confirm, capture,
 * cancel), Refunds and Events, with Stripe's auth, error shapes, idempotency,
 * test payment methods and signed webhooks.
 */
export class StripeEmulator implements EmulatorDefinition {
  readonly name = 'stripe' as const;
  readonly webhookSecret: string;
  private readonly apiVersion: string;
  private webhookUrl: string | undefined;
  private intents = new Map<string, PaymentIntent>();
  private charges = new Map<string, Charge>();
  private refunds = new Map<string, Refund>();
  private paymentMethods = new Map<string, { object: PaymentMethod; card: TestCard }>();
  private events: StripeEvent[] = [];
  private readonly idempotency = new IdempotencyStore();

  constructor(private readonly options: StripeEmulatorOptions) {
    this.webhookSecret = options.webhookSecret ?? `whsec_${randomAlphanumeric(32)}`;
    this.apiVersion = options.apiVersion ?? STRIPE_DEFAULT_API_VERSION;
    this.webhookUrl = options.webhookUrl;
  }

  /** Points the webhook endpoint elsewhere (e.g. once the app knows its port); undefined: none. */
  setWebhookUrl(url: string | undefined): void {
    this.webhookUrl = url;
  }

  rateLimitHeaders(): Record<string, string> {
    // Stripe's 429s carry no Retry-After or quota headers; only its usual request id.
    return { 'Request-Id': newRequestId(), 'Stripe-Version': this.apiVersion };
  }

  errorBody(status: number): unknown {
    if (status === 429) {
      return errorBody({
        type: 'invalid_request_error',
        code: 'rate_limit',
        doc_url: 'https://stripe.com/docs/error-codes/rate-limit',
        message:
          'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      });
    }
    return errorBody({
      type: 'api_error',
      message:
        "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach us at support.stripe.com/contact.",
    });
  }

  reset(): void {
    this.intents = new Map();
    this.charges = new Map();
    this.refunds = new Map();
    this.paymentMethods = new Map();
    this.events = [];
    this.idempotency.clear();
  }

  state(): StripeState {
    return clone({
      paymentIntents: [...this.intents.values()],
      charges: [...this.charges.values()],
      refunds: [...this.refunds.values()],
      paymentMethods: [...this.paymentMethods.values()].map((pm) => pm.object),
      events: [...this.events].reverse(),
    });
  }

  handle(req: EmulatorRequest, ctx: EmulatorContext): EmulatorResponse {
    const requestId = newRequestId();
    const apiVersion = header(req, 'stripe-version') ?? this.apiVersion;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Request-Id': requestId,
      'Stripe-Version': apiVersion,
      'Cache-Control': 'no-cache, no-store',
    };
    const respond = (
      status: number,
      body: string,
      extra: Record<string, string> = {},
    ): EmulatorResponse => ({
      status,
      headers: { ...headers, ...extra },
      body,
    });
    const serialize = (value: unknown): string => JSON.stringify(value, null, 2);
    const errorResponse = (err: StripeApiError): EmulatorResponse => {
      const error: StripeErrorObject = { ...err.error };
      if (err.status !== 401)
        error.request_log_url = `https://dashboard.stripe.com/test/logs/${requestId}`;
      return respond(
        err.status,
        serialize(errorBody(error)),
        err.status === 401 ? { 'Www-Authenticate': 'Basic realm="Stripe"' } : {},
      );
    };

    try {
      authenticate(header(req, 'authorization'), this.options.secretKey);
      const route = this.route(req.method, req.path);
      const params = this.parseParams(req);
      const key = req.method === 'POST' ? header(req, 'idempotency-key') : undefined;
      if (key !== undefined) {
        if (key.length > 255)
          throw paramError(
            'Invalid idempotency key: must be at most 255 characters.',
            'Idempotency-Key',
          );
        const stored = this.idempotency.find(key, req.method, req.path, params);
        if (stored) {
          return respond(stored.status, stored.body, {
            'Idempotency-Key': key,
            'Idempotent-Replayed': 'true',
            'Original-Request': stored.requestId,
          });
        }
      }
      const call: Call = {
        ctx,
        requestId,
        idempotencyKey: key ?? null,
        apiVersion,
        now: Math.floor(ctx.now().getTime() / 1000),
      };
      let status = 200;
      let body: string;
      try {
        body = serialize(this.run(route, params, call));
      } catch (err) {
        if (!(err instanceof StripeApiError) || err.beforeExecution) throw err;
        const response = errorResponse(err);
        status = response.status;
        body = response.body as string;
      }
      if (key === undefined) return respond(status, body);
      this.idempotency.save(key, {
        method: req.method,
        path: req.path,
        params,
        requestId,
        status,
        body,
      });
      return respond(status, body, { 'Idempotency-Key': key });
    } catch (err) {
      if (err instanceof StripeApiError) return errorResponse(err);
      if (err instanceof FormParseError) return errorResponse(paramError(err.message, err.param));
      throw err;
    }
  }

  trigger(body: unknown, ctx: EmulatorContext): unknown {
    if (!isRecord(body))
      throw new StripeTriggerError(
        'Expected a JSON object like {"type":"payment_intent.succeeded","paymentIntent":"pi_…"}.',
      );
    const call: Call = {
      ctx,
      requestId: null,
      idempotencyKey: null,
      apiVersion: this.apiVersion,
      now: Math.floor(ctx.now().getTime() / 1000),
    };
    if (typeof body.resend === 'string') {
      const event = this.events.find((e) => e.id === body.resend);
      if (!event) throw new StripeTriggerError(`No such event: '${body.resend}'`);
      // Stripe redelivers the same event (same id); consumers must dedupe on it.
      this.deliver(event, ctx);
      return { event: clone(event) };
    }
    const type = body.type;
    const emitted = this.triggerEvent(type, body, call);
    return { events: emitted.map((e) => clone(e)) };
  }

  private triggerEvent(type: unknown, body: Record<string, unknown>, call: Call): StripeEvent[] {
    const lookup = <T>(map: Map<string, T>, field: string, kind: string): T => {
      const id = body[field];
      if (typeof id !== 'string')
        throw new StripeTriggerError(`"${field}" is required for ${String(type)}.`);
      const found = map.get(id);
      if (!found) throw new StripeTriggerError(`No such ${kind}: '${id}'`);
      return found;
    };
    const before = this.events.length;
    switch (type) {
      case 'payment_intent.succeeded': {
        const pi = lookup(this.intents, 'paymentIntent', 'payment_intent');
        // The customer completing 3D Secure: the payment goes through.
        if (pi.status === 'requires_action') this.chargeAuthenticated(pi, call);
        else this.emit('payment_intent.succeeded', pi, call);
        break;
      }
      case 'payment_intent.payment_failed': {
        const pi = lookup(this.intents, 'paymentIntent', 'payment_intent');
        if (pi.status === 'requires_action') this.failAuthentication(pi, call);
        else this.emit('payment_intent.payment_failed', pi, call);
        break;
      }
      case 'payment_intent.created':
      case 'payment_intent.canceled':
      case 'payment_intent.requires_action':
      case 'payment_intent.amount_capturable_updated':
        this.emit(type, lookup(this.intents, 'paymentIntent', 'payment_intent'), call);
        break;
      case 'charge.succeeded':
      case 'charge.failed':
      case 'charge.captured':
      case 'charge.refunded': {
        const charge =
          typeof body.charge === 'string'
            ? lookup(this.charges, 'charge', 'charge')
            : this.latestCharge(lookup(this.intents, 'paymentIntent', 'payment_intent'));
        this.emit(type, charge, call);
        break;
      }
      case 'refund.created':
        this.emit(type, lookup(this.refunds, 'refund', 'refund'), call);
        break;
      default:
        throw new StripeTriggerError(`Unsupported event type: ${JSON.stringify(type)}`);
    }
    return this.events.slice(before);
  }

  private latestCharge(pi: PaymentIntent): Charge {
    const charge = pi.latest_charge ? this.charges.get(pi.latest_charge) : undefined;
    if (!charge) throw new StripeTriggerError(`PaymentIntent ${pi.id} has no charge.`);
    return charge;
  }

  // ---- request plumbing -------------------------------------------------------------------

  private route(method: string, path: string): RouteMatch {
    for (const route of ROUTES) {
      const m = route.pattern.exec(path);
      if (m && route.method === method)
        return { op: route.op, id: m[1] === undefined ? undefined : decodeURIComponent(m[1]) };
    }
    throw unrecognizedUrl(method, path);
  }

  private parseParams(req: EmulatorRequest): FormObject {
    if (req.method === 'GET') return parseForm(req.query);
    return parseForm(req.rawBody.toString('utf8'));
  }

  private run(route: RouteMatch, values: FormObject, call: Call): unknown {
    const id = route.id ?? '';
    switch (route.op) {
      case 'createPaymentIntent':
        return this.createPaymentIntent(values, call);
      case 'retrievePaymentIntent': {
        const params = new StripeParams(values, ['expand', 'client_secret']);
        return this.renderIntent(this.intent(id), params.stringArray('expand'));
      }
      case 'confirmPaymentIntent':
        return this.confirmPaymentIntent(id, values, call);
      case 'capturePaymentIntent':
        return this.capturePaymentIntent(id, values, call);
      case 'cancelPaymentIntent':
        return this.cancelPaymentIntent(id, values, call);
      case 'createRefund':
        return this.createRefund(values, call);
      case 'retrieveRefund': {
        const params = new StripeParams(values, ['expand']);
        const refund = this.refunds.get(id);
        if (!refund) throw resourceMissing('refund', id, 'id');
        return this.renderRefund(refund, params.stringArray('expand'));
      }
      case 'listEvents':
        return listEvents(this.events, values);
      case 'retrieveEvent': {
        const params = new StripeParams(values, ['expand']);
        this.checkExpand(params.stringArray('expand'), []);
        const event = this.events.find((e) => e.id === id);
        if (!event) throw resourceMissing('event', id, 'id');
        return event;
      }
    }
  }

  private intent(id: string, param = 'intent', status = 404): PaymentIntent {
    const pi = this.intents.get(id);
    if (!pi) throw resourceMissing('payment_intent', id, param, status);
    return pi;
  }

  // ---- PaymentIntents ---------------------------------------------------------------------

  private createPaymentIntent(values: FormObject, call: Call): unknown {
    const params = parseCreatePaymentIntent(values, call.apiVersion);
    const { intent, confirm, paymentMethod, confirmOptions, expand } = params;
    this.checkExpand(expand, ['latest_charge', 'payment_method']);
    const pm =
      paymentMethod !== undefined
        ? this.resolvePaymentMethod(paymentMethod, intent.customer, call)
        : undefined;
    if (confirm) {
      if (!pm) {
        throw paramError(
          "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
          'payment_method',
          'payment_intent_unexpected_state',
        );
      }
      requireReturnUrl(
        intent.automaticPaymentMethods,
        intent.allowedPaymentMethodTypes,
        confirmOptions.returnUrl,
      );
    }

    const pi = newPaymentIntent({ ...intent, created: call.now });
    if (pm) {
      this.commitPaymentMethod(pm);
      pi.payment_method = pm.object.id;
      pi.status = 'requires_confirmation';
    }
    this.intents.set(pi.id, pi);
    this.emit('payment_intent.created', pi, call);
    if (confirm && pm) this.confirm(pi, pm, confirmOptions, call);
    return this.renderIntent(pi, expand);
  }

  private confirmPaymentIntent(id: string, values: FormObject, call: Call): unknown {
    const params = parseConfirmPaymentIntent(values);
    const pi = this.intent(id);
    this.checkExpand(params.expand, ['latest_charge', 'payment_method']);
    if (!CONFIRMABLE.includes(pi.status)) {
      throw unexpectedState(
        pi.status === 'succeeded'
          ? 'You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.'
          : `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: ${CONFIRMABLE.join(', ')}.`,
        clone(pi),
      );
    }
    const pmId = params.paymentMethod ?? pi.payment_method;
    if (pmId === null || pmId === undefined) {
      throw unexpectedState(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
        clone(pi),
      );
    }
    const pm = this.resolvePaymentMethod(pmId, pi.customer, call);
    const allowedTypes = params.allowedTypes ?? pi.allowed_payment_method_types;
    requireReturnUrl(pi.automatic_payment_methods, allowedTypes, params.confirmOptions.returnUrl);

    this.commitPaymentMethod(pm);
    if (params.allowedTypes) {
      pi.allowed_payment_method_types = params.allowedTypes;
      pi.payment_method_types = params.allowedTypes;
    }
    if (params.captureMethod) pi.capture_method = params.captureMethod;
    if (params.receiptEmail !== undefined) pi.receipt_email = params.receiptEmail;
    if (params.setupFutureUsage) pi.setup_future_usage = params.setupFutureUsage;
    this.confirm(pi, pm, params.confirmOptions, call);
    return this.renderIntent(pi, params.expand);
  }

  private capturePaymentIntent(id: string, values: FormObject, call: Call): unknown {
    const p = new StripeParams(values, ['amount_to_capture', 'expand', 'metadata']);
    const pi = this.intent(id);
    const amountToCapture = p.integer('amount_to_capture');
    const metadata = p.metadata();
    const expand = p.stringArray('expand');
    this.checkExpand(expand, ['latest_charge', 'payment_method']);
    if (pi.status !== 'requires_capture') {
      throw unexpectedState(
        `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
        clone(pi),
      );
    }
    const amount = amountToCapture ?? pi.amount_capturable;
    if (amount <= 0 || amount > pi.amount_capturable) {
      throw invalidRequest(
        `The amount to capture (${amount}) must be a positive integer no greater than the amount capturable (${pi.amount_capturable}).`,
        { param: 'amount_to_capture' },
      );
    }
    const charge = this.latestChargeOf(pi);
    charge.captured = true;
    charge.amount_captured = amount;
    charge.balance_transaction = stripeId('txn');
    if (metadata) pi.metadata = { ...pi.metadata, ...metadata };
    pi.amount_received = amount;
    pi.amount_capturable = 0;
    pi.status = 'succeeded';
    this.emit('charge.captured', charge, call);
    this.emit('payment_intent.succeeded', pi, call);
    return this.renderIntent(pi, expand);
  }

  private cancelPaymentIntent(id: string, values: FormObject, call: Call): unknown {
    const p = new StripeParams(values, ['cancellation_reason', 'expand']);
    const pi = this.intent(id);
    const reason = p.enum('cancellation_reason', CANCELLATION_REASONS);
    const expand = p.stringArray('expand');
    this.checkExpand(expand, ['latest_charge', 'payment_method']);
    if (!CANCELABLE.includes(pi.status)) {
      throw unexpectedState(
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
        clone(pi),
      );
    }
    if (pi.status === 'requires_capture') {
      // Releasing an uncaptured authorisation refunds its charge in full.
      const charge = this.latestChargeOf(pi);
      charge.amount_refunded = charge.amount;
      charge.refunded = true;
    }
    pi.status = 'canceled';
    pi.canceled_at = call.now;
    pi.cancellation_reason = reason ?? null;
    pi.amount_capturable = 0;
    pi.next_action = null;
    this.emit('payment_intent.canceled', pi, call);
    return this.renderIntent(pi, expand);
  }

  /** A test token (`pm_card_visa`) becomes a fresh `pm_…`, as Stripe does; a known `pm_…` is reused. */
  private resolvePaymentMethod(
    id: string,
    customer: string | null,
    call: Call,
  ): { object: PaymentMethod; card: TestCard } {
    const known = this.paymentMethods.get(id);
    if (known) return known;
    const card = TEST_CARDS[id];
    if (!card) {
      throw invalidRequest(`No such PaymentMethod: '${id}'`, {
        param: 'payment_method',
        code: 'resource_missing',
        beforeExecution: true,
      });
    }
    return { object: newPaymentMethod(card, call.now, customer), card };
  }

  private commitPaymentMethod(record: { object: PaymentMethod; card: TestCard }): void {
    this.paymentMethods.set(record.object.id, record);
  }

  private confirm(
    pi: PaymentIntent,
    pm: { object: PaymentMethod; card: TestCard },
    opts: ConfirmOptions,
    call: Call,
  ): void {
    pi.payment_method = pm.object.id;
    pi.last_payment_error = null;
    pi.next_action = null;
    switch (pm.card.outcome) {
      case 'succeed':
        this.chargeSucceeded(pi, pm.object, call);
        return;
      case 'decline':
        this.decline(pi, pm.object, pm.card.decline as CardDecline, call);
        return;
      case 'authenticate':
        if (opts.offSession || opts.errorOnRequiresAction) {
          this.decline(pi, pm.object, AUTHENTICATION_REQUIRED, call);
          return;
        }
        pi.status = 'requires_action';
        pi.next_action = opts.returnUrl
          ? {
              type: 'redirect_to_url',
              redirect_to_url: {
                return_url: opts.returnUrl,
                url: `https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_sandbox&payment_intent=${pi.id}&publishable_key=pk_test_sandbox`,
              },
            }
          : {
              type: 'use_stripe_sdk',
              use_stripe_sdk: {
                type: 'three_d_secure_redirect',
                stripe_js: `https://hooks.stripe.com/redirect/authenticate/src_${randomAlphanumeric(24)}`,
                source: `src_${randomAlphanumeric(24)}`,
              },
            };
        this.emit('payment_intent.requires_action', pi, call);
        return;
    }
  }

  private chargeSucceeded(pi: PaymentIntent, pm: PaymentMethod, call: Call): void {
    const charge = newCharge({ intent: pi, paymentMethod: pm, created: call.now });
    this.charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.next_action = null;
    pi.last_payment_error = null;
    this.emit('charge.succeeded', charge, call);
    if (pi.capture_method === 'manual') {
      pi.status = 'requires_capture';
      pi.amount_capturable = pi.amount;
      this.emit('payment_intent.amount_capturable_updated', pi, call);
    } else {
      pi.status = 'succeeded';
      pi.amount_received = pi.amount;
      this.emit('payment_intent.succeeded', pi, call);
    }
  }

  /** A card decline: a failed charge, the PI back to `requires_payment_method`, and a 402 for the caller. */
  private decline(pi: PaymentIntent, pm: PaymentMethod, decline: CardDecline, call: Call): never {
    const charge = newCharge({
      intent: pi,
      paymentMethod: pm,
      created: call.now,
      failure: decline,
    });
    this.charges.set(charge.id, charge);
    pi.latest_charge = charge.id;
    pi.status = 'requires_payment_method';
    pi.payment_method = null;
    pi.next_action = null;
    pi.last_payment_error = cardError(decline, charge.id, clone(pm));
    this.emit('charge.failed', charge, call);
    this.emit('payment_intent.payment_failed', pi, call);
    throw new StripeApiError(402, {
      ...cardError(decline, charge.id, clone(pm)),
      payment_intent: clone(pi),
    });
  }

  private chargeAuthenticated(pi: PaymentIntent, call: Call): void {
    const pm = pi.payment_method ? this.paymentMethods.get(pi.payment_method) : undefined;
    if (!pm) throw new StripeTriggerError(`PaymentIntent ${pi.id} has no payment method.`);
    this.chargeSucceeded(pi, pm.object, call);
  }

  private failAuthentication(pi: PaymentIntent, call: Call): void {
    const pm = pi.payment_method ? this.paymentMethods.get(pi.payment_method) : undefined;
    pi.status = 'requires_payment_method';
    pi.payment_method = null;
    pi.next_action = null;
    pi.last_payment_error = {
      type: 'invalid_request_error',
      code: 'payment_intent_authentication_failure',
      doc_url: 'https://stripe.com/docs/error-codes/payment-intent-authentication-failure',
      message:
        'The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.',
      ...(pm ? { payment_method: clone(pm.object) } : {}),
    };
    this.emit('payment_intent.payment_failed', pi, call);
  }

  private latestChargeOf(pi: PaymentIntent): Charge {
    const charge = pi.latest_charge ? this.charges.get(pi.latest_charge) : undefined;
    if (!charge)
      throw new Error(`Invariant: PaymentIntent ${pi.id} in ${pi.status} without a charge.`);
    return charge;
  }

  // ---- Refunds ----------------------------------------------------------------------------

  private createRefund(values: FormObject, call: Call): unknown {
    const p = new StripeParams(values, [
      'amount',
      'charge',
      'expand',
      'metadata',
      'payment_intent',
      'reason',
    ]);
    const piId = p.string('payment_intent');
    const chargeId = p.string('charge');
    const amount = p.integer('amount');
    const reason = p.enum('reason', REFUND_REASONS) ?? null;
    const metadata = p.metadata() ?? {};
    const expand = p.stringArray('expand');
    this.checkExpand(expand, ['charge', 'payment_intent']);
    if (piId === undefined && chargeId === undefined) {
      throw paramError(
        'One of the following params should be provided for this request: payment_intent or charge.',
        'payment_intent',
        'parameter_missing',
      );
    }
    if (amount !== undefined && amount < 1)
      throw paramError('Invalid positive integer', 'amount', 'parameter_invalid_integer');

    let charge: Charge;
    if (piId !== undefined) {
      const pi = this.intent(piId, 'payment_intent', 400);
      const latest = pi.latest_charge ? this.charges.get(pi.latest_charge) : undefined;
      if (pi.status !== 'succeeded' || !latest) {
        throw invalidRequest(
          `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
          {
            param: 'payment_intent',
            code: 'payment_intent_unexpected_state',
            paymentIntent: clone(pi),
          },
        );
      }
      if (chargeId !== undefined && chargeId !== latest.id) {
        throw invalidRequest(`Charge ${chargeId} does not belong to PaymentIntent ${pi.id}.`, {
          param: 'charge',
        });
      }
      charge = latest;
    } else {
      const found = this.charges.get(chargeId as string);
      if (!found) throw resourceMissing('charge', chargeId as string, 'charge', 400);
      charge = found;
    }
    if (!charge.captured || charge.status !== 'succeeded') {
      throw invalidRequest(`Charge ${charge.id} has not been captured and cannot be refunded.`, {
        param: 'charge',
      });
    }
    const remaining = charge.amount_captured - charge.amount_refunded;
    if (remaining <= 0) {
      throw invalidRequest(`Charge ${charge.id} has already been refunded.`, {
        code: 'charge_already_refunded',
      });
    }
    const refundAmount = amount ?? remaining;
    if (refundAmount > remaining) {
      throw invalidRequest(
        `Refund amount (${formatAmount(refundAmount, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(remaining, charge.currency)})`,
        { param: 'amount' },
      );
    }

    const refund = newRefund({ charge, amount: refundAmount, reason, metadata, created: call.now });
    this.refunds.set(refund.id, refund);
    const previous = { amount_refunded: charge.amount_refunded, refunded: charge.refunded };
    charge.amount_refunded += refundAmount;
    charge.refunded = charge.amount_refunded >= charge.amount_captured;
    charge.refunds.data.unshift(clone(refund));
    charge.refunds.total_count += 1;
    this.emit('refund.created', refund, call);
    this.emit('charge.refunded', charge, call, previous);
    return this.renderRefund(refund, expand);
  }

  // ---- Events -----------------------------------------------------------------------------

  private emit(
    type: StripeEventType,
    object: StripeEventObject,
    call: Call,
    previous?: Record<string, unknown>,
  ): void {
    const event: StripeEvent = {
      id: stripeId('evt'),
      object: 'event',
      api_version: this.apiVersion,
      created: call.now,
      data: previous
        ? { object: clone(object), previous_attributes: previous }
        : { object: clone(object) },
      livemode: false,
      pending_webhooks: this.webhookUrl ? 1 : 0,
      request: { id: call.requestId, idempotency_key: call.idempotencyKey },
      type,
    };
    this.events.push(event);
    this.deliver(event, call.ctx);
  }

  private deliver(event: StripeEvent, ctx: EmulatorContext): void {
    if (this.webhookUrl) ctx.deliver(eventWebhook(event, this.webhookUrl, this.webhookSecret, ctx));
  }

  // ---- rendering --------------------------------------------------------------------------

  private checkExpand(expand: string[] | undefined, allowed: readonly string[]): void {
    for (const field of expand ?? []) {
      if (!allowed.includes(field))
        throw paramError(`This property cannot be expanded (${field}).`, 'expand');
    }
  }

  private renderIntent(pi: PaymentIntent, expand: string[] | undefined): unknown {
    this.checkExpand(expand, ['latest_charge', 'payment_method']);
    const out: Record<string, unknown> = { ...clone(pi) };
    if (expand?.includes('latest_charge') && pi.latest_charge)
      out.latest_charge = clone(this.charges.get(pi.latest_charge));
    if (expand?.includes('payment_method') && pi.payment_method)
      out.payment_method = clone(this.paymentMethods.get(pi.payment_method)?.object);
    return out;
  }

  private renderRefund(refund: Refund, expand: string[] | undefined): unknown {
    this.checkExpand(expand, ['charge', 'payment_intent']);
    const out: Record<string, unknown> = { ...clone(refund) };
    if (expand?.includes('charge')) out.charge = clone(this.charges.get(refund.charge));
    if (expand?.includes('payment_intent'))
      out.payment_intent = clone(this.intents.get(refund.payment_intent));
    return out;
  }
}

export function createStripeEmulator(options: StripeEmulatorOptions): StripeEmulator {
  return new StripeEmulator(options);
}
