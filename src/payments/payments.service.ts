import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { Clock } from '../common/clock';
import { AppError } from '../common/errors/app-error';
import { cursorParam, DEFAULT_PAGE_LIMIT, Page, pageOf } from '../common/http/pagination';
import type { CancelPaymentDto } from './dto/cancel-payment.dto';
import type { CreatePaymentDto } from './dto/create-payment.dto';
import type { CreateRefundDto } from './dto/create-refund.dto';
import type { ListPaymentsDto } from './dto/list-payments.dto';
import { CreatedPaymentDto, PaymentDto } from './dto/payment.dto';
import { RefundDto } from './dto/refund.dto';
import { isFinalPaymentStatus } from './payment-status.rules';
import { newPaymentId, newRefundId, PAYMENT_ID_PATTERN } from './payment-ids';
import { PaymentStateService } from './payment-state.service';
import { paymentFailureMessage, StripeProviderError } from './provider-error';
import { NewPaymentRow, PaymentRow, PaymentsRepository, RefundRow } from './payments.repository';
import { CREATING } from './payments.tables';
import { CreateIntentParams, StripeClient } from './stripe.client';

/**
 * The key Stripe gets for one operation. From the client's `Idempotency-Key`
 * (scoped by API key name) when there is one, so a retried request never
 * acts twice at Stripe; else one of ours, stored with the row it belongs to.
 * Hashed, so neither our key names nor the client's key reach Stripe.
 */
export function stripeIdempotencyKey(scopeKey: string, operation: string): string {
  const digest = createHash('sha256').update(scopeKey).digest('base64url');
  return `sb_${digest}:${operation}`;
}

/**
 * How long Stripe keeps an idempotency key at least (it prunes keys "at least
 * 24 hours old"): within it a retry must reuse the key, after it the key may
 * be forgotten.
 */
export const STRIPE_IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The least time an unanswered refund holds its amount (see `inFlightSince`). */
const MIN_IN_FLIGHT_MS = 60_000;

/** The key of a client key's `generation`-th request after Stripe's window (see `paymentRowFor`). */
function keyOfGeneration(baseKey: string, generation: number): string {
  return generation === 1 ? baseKey : `${baseKey}:${generation}`;
}

/** What a row was created for: the operation and the parameters Stripe gets. */
export function requestFingerprint(request: unknown): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('base64url');
}

function keyReused(): AppError {
  return new AppError(
    'idempotency_key_reused',
    'this Idempotency-Key was used for a different request',
  );
}

function refundExceeds(remaining: number): AppError {
  return new AppError(
    'refund_exceeds_payment',
    `the refund exceeds what remains to refund of the payment (${Math.max(remaining, 0)})`,
  );
}

/** Stripe's request parameters, as our API names them (for a rejection's message). */
const OUR_FIELD: Readonly<Record<string, string>> = {
  amount: 'amount',
  currency: 'currency',
  customer: 'customer',
  description: 'description',
  payment_method: 'paymentMethod',
  capture_method: 'captureMethod',
  metadata: 'metadata',
  reason: 'reason',
  cancellation_reason: 'reason',
};

/** The payment use cases behind `/payments` (CONTRACT "Payments"). */
@Injectable()
export class PaymentsService {
  constructor(
    private readonly repo: PaymentsRepository,
    private readonly stripe: StripeClient,
    private readonly state: PaymentStateService,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreatePaymentDto, scopeKey?: string): Promise<CreatedPaymentDto> {
    const now = this.clock.now();
    const id = newPaymentId(now);
    const params: CreateIntentParams = {
      amount: dto.amount,
      currency: dto.currency.toLowerCase(),
      description: dto.description,
      customer: dto.customer,
      paymentMethod: dto.paymentMethod,
      confirm: dto.confirm,
      captureMethod: dto.captureMethod,
      metadata: dto.metadata,
    };
    const draft: NewPaymentRow = {
      id,
      provider: 'stripe',
      provider_id: null,
      idempotency_key: `sb_${id}:payment.create`,
      status: CREATING,
      amount: dto.amount,
      amount_refunded: 0,
      currency: params.currency,
      description: dto.description ?? null,
      customer: dto.customer ?? null,
      metadata: JSON.stringify(dto.metadata ?? {}),
      last_error_code: null,
      last_error_message: null,
      status_as_of: 0,
      request_fingerprint: requestFingerprint(['payment.create', params]),
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    };
    const row = scopeKey
      ? await this.paymentRowFor(stripeIdempotencyKey(scopeKey, 'payment.create'), draft)
      : await this.repo.insertPayment(draft);
    try {
      const { value: intent, asOf } = await this.stripe.createPaymentIntent(
        params,
        row.idempotency_key,
      );
      const stored = await this.state.applyIntent(row.id, intent, asOf, 'fresh');
      return CreatedPaymentDto.withSecret(stored, intent.clientSecret);
    } catch (err) {
      if (!(err instanceof StripeProviderError)) throw err;
      const { intent, asOf } = err.info;
      if (intent) {
        // A decline still made a PaymentIntent: record it, and name it in the error.
        await this.state.applyIntent(row.id, intent, asOf ?? 0, 'fresh');
      } else if (err.kind === 'rejected') {
        // Refused before executing: nothing exists at Stripe, and a retry may start over.
        await this.repo.deleteCreatingPayment(row.id);
      }
      throw this.toAppError(err, { paymentId: intent ? row.id : undefined });
    }
  }

  /**
   * The row a create under the client's key works on: the one made for the
   * same request by an earlier try (whose answer the client did not get or
   * we did not keep), or a new one. A row older than Stripe's idempotency
   * window stands for a request whose key Stripe may have forgotten: reusing
   * it would have Stripe make a second PaymentIntent that this row, bound to
   * the first, cannot record. A request after that window is a new payment,
   * under the key's next generation (`…:2`, `…:3`), which Stripe has never
   * seen. Another request within the window: 422 `idempotency_key_reused`.
   */
  private async paymentRowFor(baseKey: string, draft: NewPaymentRow): Promise<PaymentRow> {
    for (let generation = 1; ; generation++) {
      const row = await this.repo.insertPayment({
        ...draft,
        idempotency_key: keyOfGeneration(baseKey, generation),
      });
      if (row.id === draft.id || this.isRetryOf(row, draft.request_fingerprint)) return row;
    }
  }

  /**
   * True when `row` was made for this same request within Stripe's window;
   * false when the window is over (the caller moves to the next generation);
   * throws when it was made for another request.
   */
  private isRetryOf(
    row: Pick<PaymentRow | RefundRow, 'created_at' | 'request_fingerprint'>,
    fingerprint: string | null | undefined,
  ): boolean {
    const age = this.clock.now().getTime() - Date.parse(row.created_at);
    if (!(age < STRIPE_IDEMPOTENCY_WINDOW_MS)) return false;
    // Rows from before fingerprints were kept (null) are taken as the same request.
    if (row.request_fingerprint !== null && row.request_fingerprint !== fingerprint)
      throw keyReused();
    return true;
  }

  async get(id: string): Promise<PaymentDto> {
    return PaymentDto.from(await this.findVisible(id));
  }

  async list(query: ListPaymentsDto): Promise<Page<PaymentDto>> {
    const after = cursorParam(query.cursor, PAYMENT_ID_PATTERN);
    const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
    const rows = await this.repo.listPayments({ status: query.status, limit, after });
    return pageOf(rows, limit, (page) => page.map((row) => PaymentDto.from(row)));
  }

  async refund(paymentId: string, dto: CreateRefundDto, scopeKey?: string): Promise<RefundDto> {
    const payment = await this.findVisible(paymentId);
    if (payment.status !== 'succeeded')
      throw new AppError(
        'invalid_state',
        `only a succeeded payment can be refunded; this one is ${payment.status}`,
      );
    const fingerprint = requestFingerprint([
      'refund.create',
      paymentId,
      dto.amount ?? null,
      dto.reason ?? null,
    ]);
    const now = this.clock.now();
    const id = newRefundId(now);
    // A retry of the same request reuses its row (and amount), even if it already took effect.
    const { existing, key } = scopeKey
      ? await this.refundRowFor(
          stripeIdempotencyKey(scopeKey, `refund.create:${paymentId}`),
          fingerprint,
        )
      : { existing: undefined, key: `sb_${id}:refund.create` };
    let row: RefundRow;
    if (existing) {
      const held = await this.repo.heldRefundTotal(paymentId, this.inFlightSince(), existing.id);
      if (existing.amount > payment.amount - held) throw refundExceeds(payment.amount - held);
      row = existing;
    } else {
      // Checked and inserted in one transaction per payment: refunds sent side by side cannot
      // together ask Stripe for more than the payment (CONTRACT: nothing is sent to Stripe).
      const reserved = await this.repo.reserveRefund(
        {
          id,
          payment_id: paymentId,
          provider_id: null,
          idempotency_key: key,
          amount: dto.amount,
          reason: dto.reason ?? null,
          status: CREATING,
          request_fingerprint: fingerprint,
          created_at: now.toISOString(),
          updated_at: now.toISOString(),
        },
        this.inFlightSince(),
      );
      if (!reserved.row) throw refundExceeds(reserved.remaining);
      row = reserved.row;
    }
    try {
      const { value } = await this.stripe.createRefund(
        {
          paymentIntentId: payment.provider_id as string,
          amount: row.amount,
          reason: (row.reason ?? undefined) as CreateRefundDto['reason'],
        },
        row.idempotency_key as string,
      );
      return RefundDto.from(await this.state.applyRefund(row.id, value));
    } catch (err) {
      if (!(err instanceof StripeProviderError)) throw err;
      if (err.kind === 'rejected') {
        await this.repo.deleteCreatingRefund(row.id);
        // Another refund got there first (Stripe's own check): the same answer ours would give.
        if (err.info.code === 'charge_already_refunded' || err.info.param === 'amount')
          throw new AppError(
            'refund_exceeds_payment',
            'the refund exceeds what remains to refund of the payment',
          );
      }
      throw this.toAppError(err, {});
    }
  }

  /** Like {@link paymentRowFor}, for refunds: the row of an earlier try of this request, or the key a new one gets. */
  private async refundRowFor(
    baseKey: string,
    fingerprint: string,
  ): Promise<{ existing?: RefundRow; key: string }> {
    for (let generation = 1; ; generation++) {
      const key = keyOfGeneration(baseKey, generation);
      const row = await this.repo.findRefundByIdempotencyKey(key);
      if (!row) return { key };
      if (this.isRetryOf(row, fingerprint)) return { existing: row, key };
    }
  }

  /**
   * Refunds created since this time without an answer yet may still be on
   * their way to Stripe, so they hold their amount; an older one was lost
   * with its process (its webhook links it if Stripe did act on it).
   */
  private inFlightSince(): string {
    const heldMs = Math.max(MIN_IN_FLIGHT_MS, 2 * this.stripe.longestCallMs);
    return new Date(this.clock.now().getTime() - heldMs).toISOString();
  }

  async cancel(id: string, dto: CancelPaymentDto, scopeKey?: string): Promise<PaymentDto> {
    const payment = await this.findVisible(id);
    if (isFinalPaymentStatus(payment.status)) throw this.cannotCancel(payment);
    // Without the client's key, one per request: a fixed one would have Stripe replay its first
    // answer (an error, say) to every later cancel for a day.
    const key = scopeKey
      ? stripeIdempotencyKey(scopeKey, `payment.cancel:${id}`)
      : `sb_${id}:payment.cancel:${randomUUID()}`;
    try {
      const { value, asOf } = await this.stripe.cancelPaymentIntent(
        payment.provider_id as string,
        dto.reason,
        key,
      );
      return PaymentDto.from(await this.state.applyIntent(id, value, asOf, 'fresh'));
    } catch (err) {
      if (!(err instanceof StripeProviderError)) throw err;
      if (err.info.intent) {
        const current = await this.state.applyIntent(
          id,
          err.info.intent,
          err.info.asOf ?? 0,
          'fresh',
        );
        if (err.info.code === 'payment_intent_unexpected_state') throw this.cannotCancel(current);
      }
      throw this.toAppError(err, {});
    }
  }

  private async findVisible(id: string): Promise<PaymentRow> {
    const row = await this.repo.findVisiblePayment(id);
    if (!row) throw AppError.notFound('payment');
    return row;
  }

  private cannotCancel(payment: PaymentRow): AppError {
    return new AppError('invalid_state', `a ${payment.status} payment cannot be canceled`);
  }

  /** Our answer for a Stripe failure: codes and our own words, never Stripe's message. */
  private toAppError(err: StripeProviderError, ctx: { paymentId?: string }): AppError {
    switch (err.kind) {
      case 'declined': {
        const code = err.info.code ?? 'card_declined';
        const declineCode = err.info.declineCode ?? code;
        return new AppError(
          'card_declined',
          paymentFailureMessage(code, declineCode),
          ctx.paymentId ? [{ paymentId: ctx.paymentId, declineCode }] : [{ declineCode }],
        );
      }
      case 'rejected': {
        const field = err.info.param ? OUR_FIELD[err.info.param] : undefined;
        return new AppError(
          'provider_rejected',
          field ? `Stripe rejected the request: check ${field}` : 'Stripe rejected the request',
        );
      }
      case 'key_reused':
        return keyReused();
      case 'unavailable': {
        const retryAfter = err.info.retryAfterSeconds;
        return new AppError(
          'provider_unavailable',
          'Stripe is unavailable; try again later',
          undefined,
          retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : undefined,
        );
      }
    }
  }
}
