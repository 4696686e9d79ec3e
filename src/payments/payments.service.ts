import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
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
import { PaymentRow, PaymentsRepository } from './payments.repository';
import { CREATING } from './payments.tables';
import { StripeClient } from './stripe.client';

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
    const row = await this.repo.insertPayment({
      id,
      provider: 'stripe',
      provider_id: null,
      idempotency_key: scopeKey
        ? stripeIdempotencyKey(scopeKey, 'payment.create')
        : `sb_${id}:payment.create`,
      status: CREATING,
      amount: dto.amount,
      amount_refunded: 0,
      currency: dto.currency.toLowerCase(),
      description: dto.description ?? null,
      customer: dto.customer ?? null,
      metadata: JSON.stringify(dto.metadata ?? {}),
      last_error_code: null,
      last_error_message: null,
      status_as_of: 0,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    });
    try {
      const { value: intent, asOf } = await this.stripe.createPaymentIntent(
        {
          amount: dto.amount,
          currency: dto.currency.toLowerCase(),
          description: dto.description,
          customer: dto.customer,
          paymentMethod: dto.paymentMethod,
          confirm: dto.confirm,
          captureMethod: dto.captureMethod,
          metadata: dto.metadata,
        },
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
    const key = scopeKey ? stripeIdempotencyKey(scopeKey, `refund.create:${paymentId}`) : undefined;
    // A retry of the same request reuses its row (and amount), even if it already took effect.
    const existing = key ? await this.repo.findRefundByIdempotencyKey(key) : undefined;
    const committed = await this.repo.committedRefundTotal(paymentId, existing?.id);
    const remaining = payment.amount - committed;
    const amount = existing?.amount ?? dto.amount ?? remaining;
    if (amount < 1 || amount > remaining) {
      throw new AppError(
        'refund_exceeds_payment',
        `the refund exceeds what remains to refund of the payment (${Math.max(remaining, 0)})`,
      );
    }

    const now = this.clock.now();
    const id = newRefundId(now);
    const row =
      existing ??
      (await this.repo.insertRefund({
        id,
        payment_id: paymentId,
        provider_id: null,
        idempotency_key: key ?? `sb_${id}:refund.create`,
        amount,
        reason: dto.reason ?? null,
        status: CREATING,
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
      }));
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

  async cancel(id: string, dto: CancelPaymentDto, scopeKey?: string): Promise<PaymentDto> {
    const payment = await this.findVisible(id);
    if (isFinalPaymentStatus(payment.status)) throw this.cannotCancel(payment);
    const key = scopeKey
      ? stripeIdempotencyKey(scopeKey, `payment.cancel:${id}`)
      : `sb_${id}:payment.cancel:${dto.reason ?? 'none'}`;
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
