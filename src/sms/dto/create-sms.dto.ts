import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import {
  CodePointLength,
  E164,
  IsMetadata,
  MAX_BODY_CODE_POINTS,
  METADATA_MAX_KEYS,
} from './sms-validators';

/** `POST /sms`. Unknown fields are rejected by the global pipe. */
export class CreateSmsDto {
  @ApiProperty({
    example: '+15551234567',
    description: 'E.164: + then 7–15 digits, the first not 0',
  })
  @IsString({ message: 'to must be an E.164 phone number' })
  @Matches(E164, { message: 'to must be an E.164 phone number' })
  to!: string;

  @ApiProperty({
    minLength: 1,
    maxLength: MAX_BODY_CODE_POINTS,
    description: '1–1600 characters (Unicode code points)',
  })
  @CodePointLength(1, MAX_BODY_CODE_POINTS, {
    message: `body must be a string of 1–${MAX_BODY_CODE_POINTS} characters`,
  })
  body!: string;

  @ApiPropertyOptional({
    example: '+15005550006',
    description: 'E.164; defaults to the configured sender',
  })
  @IsOptional()
  @IsString({ message: 'from must be an E.164 phone number' })
  @Matches(E164, { message: 'from must be an E.164 phone number' })
  from?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string', maxLength: 500 },
    description: `up to ${METADATA_MAX_KEYS} string pairs; keys up to 40, values up to 500 characters`,
  })
  @IsOptional()
  @IsMetadata()
  metadata?: Record<string, string>;
}
