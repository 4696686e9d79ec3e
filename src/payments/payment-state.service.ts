import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { decideIntentUpdate, IntentSource, shouldApplyRefundStatus } from './payment-status.rules';
import { newRefundId } from './payment-ids';
import { paymentFailureMessage } from './provider-error';
import { PaymentRow, PaymentsRepository, RefundRow } from './payments.repository';
import { readChargeRefunds, readEvent, readIntent, readRefund } from './stripe-objects';
import type { StripeEventEnvelope, StripeIntent, StripeRefundObject } from './stripe-objects';
import { StripeClient } from './stripe.client';

/** Compare-and-set rounds before giving up (each lost round means another writer moved the row). */
const MAX_ROUNDS = 8;

/**
 * Keeps our payment and refund rows in step with Stripe, whether the news
 * comes from an API response or a webhook: late events never move a payment
 * back, refunds only move forward, and `amountRefunded` follows the refunds.
 */
@Injectable()
export class PaymentStateService {
  private readonly logger = new Logger(PaymentStateService.name);

  constructor(
    private readonly repo: PaymentsRepository,
    private readonly stripe: StripeClient,
    private readonly clock: Clock,
  ) {}

  /** Applies a PaymentIntent to our row (see {@link decideIntentUpdate}); returns the row as it ends up. */
  async applyIntent(
    paymentId: string,
    intent: StripeIntent,
    asOf: number,
    source: IntentSource,
  ): Promise<PaymentRow> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.repo.findPayment(paymentId);
      if (!row) throw new Error(`payment ${paymentId} not found`);
      const decision = decideIntentUpdate(row, intent, asOf, source);
      if (decision === 'ignore') return row;
      if (decision === 'reread') {
        const fresh = await this.stripe.retrievePaymentIntent(intent.id);
        ({ value: intent, asOf } = fresh);
        source = 'fresh';
        continue;
      }
      const updated = await this.repo.updatePaymentIfUnchanged(row, {
        provider_id: intent.id,
        status: intent.status,
        amount: intent.amount,
        last_error_code: intent.lastError?.code ?? null,
        last_error_message: intent.lastError
          ? paymentFailureMessage(intent.lastError.code, intent.lastError.declineCode)
          : null,
        status_as_of: Math.max(row.status_as_of, asOf),
        updated_at: this.clock.now().toISOString(),
      });
      if (updated) return updated;
    }
    throw new Error(`payment ${paymentId}: too many concurrent updates`);
  }

  /** Applies a Refund to our row: links it to Stripe's id and moves its status forward. */
  async applyRefund(refundId: string, refund: StripeRefundObject): Promise<RefundRow> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.repo.findRefund(refundId);
      if (!row) throw new Error(`refund ${refundId} not found`);
      if (row.provider_id !== null && row.provider_id !== refund.id) return row;
      if (!shouldApplyRefundStatus(row.status, refund.status)) return row;
      const updated = await this.repo.updateRefundIfUnchanged(row, {
        provider_id: refund.id,
        status: refund.status,
        amount: refund.amount,
        updated_at: this.clock.now().toISOString(),
      });
      if (updated) {
        await this.repo.recomputeAmountRefunded(updated.payment_id, this.clock.now());
        return updated;
      }
    }
    throw new Error(`refund ${refundId}: too many concurrent updates`);
  }

  // ---- webhook events ---------------------------------------------------------------------

  /** `payment_intent.*`: a PaymentIntent of ours, found by its id or, before we know it, by our request's key. */
  async onIntentEvent(payload: unknown): Promise<void> {
    const event = this.readEventOrWarn(payload);
    const intent = event && readIntent(event.object);
    if (!event || !intent) return;
    const row = await this.repo.findPaymentForEvent(intent.id, event.requestIdempotencyKey);
    if (!row) {
      this.logger.log(
        { eventId: event.id, type: event.type },
        'event for a PaymentIntent not made here; ignored',
      );
      return;
    }
    await this.applyIntent(row.id, intent, event.created, 'event');
  }

  /**
   * `refund.*`: one Refund. Ours is found by its id or by our request's key;
   * one made elsewhere (e.g. the Dashboard) for a payment of ours is recorded.
   */
  async onRefundEvent(payload: unknown): Promise<void> {
    const event = this.readEventOrWarn(payload);
    const refund = event && readRefund(event.object);
    if (!event || !refund) return;
    const row = await this.findRefundRow(refund, event.requestIdempotencyKey);
    if (row) {
      await this.applyRefund(row.id, refund);
      return;
    }
    const payment = refund.paymentIntentId
      ? await this.repo.findPaymentByProviderId(refund.paymentIntentId)
      : undefined;
    if (!payment) return;
    const now = this.clock.now().toISOString();
    const stored = await this.repo.insertRefund({
      id: newRefundId(this.clock.now()),
      payment_id: payment.id,
      provider_id: refund.id,
      idempotency_key: null,
      amount: refund.amount,
      reason: refund.reason,
      status: refund.status,
      created_at: now,
      updated_at: now,
    });
    await this.applyRefund(stored.id, refund);
    await this.repo.recomputeAmountRefunded(payment.id, this.clock.now());
  }

  /**
   * `charge.refunded`: the charge lists its refunds; known ones are brought
   * up to date. New ones are left to their own `refund.created`, which names
   * the request that made them (the charge event cannot say which is which).
   */
  async onChargeRefundedEvent(payload: unknown): Promise<void> {
    const event = this.readEventOrWarn(payload);
    const charge = event && readChargeRefunds(event.object);
    if (!charge) return;
    for (const refund of charge.refunds) {
      const row = await this.repo.findRefundByProviderId(refund.id);
      if (row) await this.applyRefund(row.id, refund);
    }
  }

  private async findRefundRow(
    refund: StripeRefundObject,
    requestKey: string | null,
  ): Promise<RefundRow | undefined> {
    const byId = await this.repo.findRefundByProviderId(refund.id);
    if (byId || !requestKey) return byId;
    const byKey = await this.repo.findRefundByIdempotencyKey(requestKey);
    return byKey && (byKey.provider_id === null || byKey.provider_id === refund.id)
      ? byKey
      : undefined;
  }

  private readEventOrWarn(payload: unknown): StripeEventEnvelope | undefined {
    const event = readEvent(payload);
    if (!event) this.logger.warn('stored Stripe event is not readable; ignored');
    return event;
  }
}
