import { ApiProperty } from '@nestjs/swagger';
import type { PaymentRow } from '../payments.repository';
import { PAYMENT_STATUSES, type PaymentStatus } from '../payments.tables';

export class PaymentErrorDto {
  @ApiProperty({ example: 'card_declined', description: "Stripe's error code" })
  code!: string;

  @ApiProperty({ example: 'the card has insufficient funds' })
  message!: string;
}

/** A payment (CONTRACT "Payments"), fields in the contract's order. */
export class PaymentDto {
  @ApiProperty({ example: 'pay_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ enum: ['stripe'] })
  provider!: 'stripe';

  @ApiProperty({ example: 'pi_3PqRsT2eZvKYlo2C0a1b2c3d' })
  providerId!: string;

  @ApiProperty({ enum: PAYMENT_STATUSES, description: "Stripe's PaymentIntent status" })
  status!: PaymentStatus;

  @ApiProperty({ example: 2500 })
  amount!: number;

  @ApiProperty({ example: 0, description: 'the sum of the succeeded refunds' })
  amountRefunded!: number;

  @ApiProperty({ example: 'usd' })
  currency!: string;

  @ApiProperty({ type: String, nullable: true })
  description!: string | null;

  @ApiProperty({ type: String, nullable: true })
  customer!: string | null;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  metadata!: Record<string, string>;

  @ApiProperty({ type: PaymentErrorDto, nullable: true })
  lastError!: PaymentErrorDto | null;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;

  static from(row: PaymentRow): PaymentDto {
    return Object.assign(new PaymentDto(), paymentFields(row));
  }
}

/** The answer to `POST /payments`: a payment plus the PaymentIntent's client secret (only here). */
export class CreatedPaymentDto extends PaymentDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'for Stripe.js on the client; only in this response',
  })
  clientSecret!: string | null;

  static withSecret(row: PaymentRow, clientSecret: string | null): CreatedPaymentDto {
    return Object.assign(new CreatedPaymentDto(), paymentFields(row), { clientSecret });
  }
}

export class PaymentListDto {
  @ApiProperty({ type: [PaymentDto] })
  data!: PaymentDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass as cursor for the next page; null on the last',
  })
  nextCursor!: string | null;
}

function paymentFields(row: PaymentRow): PaymentDto {
  return {
    id: row.id,
    provider: 'stripe',
    providerId: row.provider_id ?? '',
    status: row.status as PaymentStatus,
    amount: Number(row.amount),
    amountRefunded: Number(row.amount_refunded),
    currency: row.currency,
    description: row.description,
    customer: row.customer,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    lastError:
      row.last_error_code !== null
        ? { code: row.last_error_code, message: row.last_error_message ?? '' }
        : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
