import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import type { CancellationReason } from '../stripe.client';

export const CANCELLATION_REASONS: readonly CancellationReason[] = [
  'duplicate',
  'fraudulent',
  'requested_by_customer',
  'abandoned',
];

/** `POST /payments/:id/cancel`; the body may be omitted. */
export class CancelPaymentDto {
  @ApiPropertyOptional({ enum: CANCELLATION_REASONS })
  @IsOptional()
  @IsIn(CANCELLATION_REASONS, {
    message: `reason must be one of ${CANCELLATION_REASONS.join(', ')}`,
  })
  reason?: CancellationReason;
}
