import { ApiProperty } from '@nestjs/swagger';
import { SMS_STATUSES, type SmsStatus } from '../sms-status';

export class SmsEventDto {
  @ApiProperty({
    description: "Twilio's MessageStatus as reported by the callback (e.g. delivered, read)",
  })
  status!: string;

  @ApiProperty({ format: 'date-time', description: 'when the callback reached us' })
  at!: string;
}

/** A message as the API shows it (CONTRACT "SMS"). */
export class SmsMessageDto {
  @ApiProperty({ example: 'sms_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ example: '+15551234567' })
  to!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'null until a Messaging Service picks the sender',
  })
  from!: string | null;

  @ApiProperty()
  body!: string;

  @ApiProperty({
    enum: SMS_STATUSES,
    description:
      'queued < sending < sent < delivered | undelivered | failed; never moves backwards',
  })
  status!: SmsStatus;

  @ApiProperty({ type: String, nullable: true, example: 'SM0123456789abcdef0123456789abcdef' })
  providerId!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '21211',
    description: "Twilio's error code, or provider_unavailable when every attempt failed",
  })
  errorCode!: string | null;

  @ApiProperty({ type: String, nullable: true })
  errorMessage!: string | null;

  @ApiProperty({ description: 'requests made to Twilio for this message' })
  attempts!: number;

  @ApiProperty({ type: [SmsEventDto] })
  events!: SmsEventDto[];

  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } })
  metadata!: Record<string, string>;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt!: string;
}

export class SmsMessageListDto {
  @ApiProperty({ type: [SmsMessageDto] })
  data!: SmsMessageDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass as cursor for the next page; null on the last',
  })
  nextCursor!: string | null;
}
