import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  EMAIL_STATUSES,
  RECIPIENT_STATUSES,
  type EmailStatus,
  type RecipientStatus,
} from '../email-status';

export class EmailRecipientDto {
  @ApiProperty({ example: 'ada@example.com' })
  email!: string;

  @ApiProperty({ enum: RECIPIENT_STATUSES })
  status!: RecipientStatus;

  @ApiPropertyOptional({
    description: 'why it bounced, was dropped or deferred, as SendGrid reported it',
  })
  reason?: string;
}

export class EmailEventDto {
  @ApiProperty({ description: "SendGrid's event type", example: 'delivered' })
  type!: string;

  @ApiProperty({ format: 'date-time' })
  at!: string;

  @ApiProperty({ type: String, nullable: true, example: 'ada@example.com' })
  recipient!: string | null;

  @ApiPropertyOptional()
  reason?: string;
}

/** CONTRACT "Email". */
export class EmailDto {
  @ApiProperty({ example: 'eml_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ type: [String] })
  to!: string[];

  @ApiProperty({ type: String, nullable: true })
  subject!: string | null;

  @ApiProperty({ enum: EMAIL_STATUSES })
  status!: EmailStatus;

  @ApiProperty({
    type: [EmailRecipientDto],
    description: 'to, cc and bcc, each with its own status',
  })
  recipients!: EmailRecipientDto[];

  @ApiProperty({ type: String, nullable: true, description: "SendGrid's X-Message-Id" })
  providerMessageId!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'provider_rejected' })
  errorCode!: string | null;

  @ApiProperty({ type: String, nullable: true })
  errorMessage!: string | null;

  @ApiProperty({ description: 'requests made to SendGrid for this email' })
  attempts!: number;

  @ApiProperty({ type: [EmailEventDto] })
  events!: EmailEventDto[];

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  metadata!: Record<string, string>;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class EmailListDto {
  @ApiProperty({ type: [EmailDto] })
  data!: EmailDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass as cursor for the next page; null on the last',
  })
  nextCursor!: string | null;
}
