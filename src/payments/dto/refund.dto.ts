import { ApiProperty } from '@nestjs/swagger';
import type { RefundRow } from '../payments.repository';
import { REFUND_STATUSES, type RefundStatus } from '../payments.tables';

/** A refund (CONTRACT "Payments"), fields in the contract's order. */
export class RefundDto {
  @ApiProperty({ example: 'ref_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ example: 'pay_01hz3k5v8q0000000000000000' })
  paymentId!: string;

  @ApiProperty({ example: 're_3PqRsT2eZvKYlo2C0a1b2c3d' })
  providerId!: string;

  @ApiProperty({ example: 1000 })
  amount!: number;

  @ApiProperty({
    type: String,
    nullable: true,
    enum: ['duplicate', 'fraudulent', 'requested_by_customer'],
  })
  reason!: string | null;

  @ApiProperty({ enum: REFUND_STATUSES })
  status!: RefundStatus;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;

  static from(row: RefundRow): RefundDto {
    return Object.assign(new RefundDto(), {
      id: row.id,
      paymentId: row.payment_id,
      providerId: row.provider_id ?? '',
      amount: Number(row.amount),
      reason: row.reason,
      status: row.status as RefundStatus,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }
}
