import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import type { RefundReason } from '../stripe.client';
import { MAX_AMOUNT } from './create-payment.dto';

export const REFUND_REASONS: readonly RefundReason[] = [
  'duplicate',
  'fraudulent',
  'requested_by_customer',
];

/** `POST /payments/:id/refunds`. */
export class CreateRefundDto {
  @ApiPropertyOptional({
    minimum: 1,
    maximum: MAX_AMOUNT,
    description: 'minor units; defaults to what remains (amount − amountRefunded)',
  })
  @IsOptional()
  @IsInt({ message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  @Min(1, { message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  @Max(MAX_AMOUNT, { message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  amount?: number;

  @ApiPropertyOptional({ enum: REFUND_REASONS })
  @IsOptional()
  @IsIn(REFUND_REASONS, { message: `reason must be one of ${REFUND_REASONS.join(', ')}` })
  reason?: RefundReason;
}
