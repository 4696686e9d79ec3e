import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateBy,
  ValidationOptions,
} from 'class-validator';
import type { CaptureMethod } from '../stripe.client';

export const MAX_AMOUNT = 99_999_999;
export const CAPTURE_METHODS: readonly CaptureMethod[] = ['automatic', 'manual'];

/** Stripe's metadata limits (CONTRACT): at most 50 pairs, keys ≤ 40 and values ≤ 500 characters, strings only. */
export function isMetadata(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length <= 50 &&
    entries.every(
      ([k, v]) =>
        k.length >= 1 &&
        k.length <= 40 &&
        !/[[\]]/.test(k) &&
        typeof v === 'string' &&
        v.length <= 500,
    )
  );
}

export function IsMetadata(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isMetadata',
      validator: {
        validate: isMetadata,
        defaultMessage: () =>
          'metadata must be an object of at most 50 string pairs, keys 1–40 characters without brackets, values up to 500 characters',
      },
    },
    options,
  );
}

/** `POST /payments`. */
export class CreatePaymentDto {
  @ApiProperty({
    minimum: 1,
    maximum: MAX_AMOUNT,
    example: 2500,
    description: "in the currency's minor unit",
  })
  @IsInt({ message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  @Min(1, { message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  @Max(MAX_AMOUNT, { message: `amount must be an integer from 1 to ${MAX_AMOUNT}` })
  amount!: number;

  @ApiProperty({ example: 'usd', description: 'ISO 4217, three letters; answered lower-case' })
  @IsString()
  @Matches(/^[A-Za-z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code' })
  currency!: string;

  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiPropertyOptional({ example: 'cus_NffrFeUfNV2Hib', description: 'a Stripe customer id' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  customer?: string;

  @ApiPropertyOptional({ example: 'pm_card_visa', description: 'a Stripe PaymentMethod id' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(255)
  paymentMethod?: string;

  @ApiPropertyOptional({
    description: 'confirm at once with paymentMethod (no redirect-based methods)',
  })
  @IsOptional()
  @IsBoolean()
  confirm?: boolean;

  @ApiPropertyOptional({ enum: CAPTURE_METHODS })
  @IsOptional()
  @IsIn(CAPTURE_METHODS, { message: `captureMethod must be one of ${CAPTURE_METHODS.join(', ')}` })
  captureMethod?: CaptureMethod;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 500 },
    description: 'at most 50 pairs; keys up to 40 characters',
  })
  @IsOptional()
  @IsMetadata()
  metadata?: Record<string, string>;
}
