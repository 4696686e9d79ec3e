import { ApiProperty } from '@nestjs/swagger';
import {
  WEBHOOK_EVENT_STATUSES,
  type WebhookEventRow,
  type WebhookEventStatus,
} from '../webhook-events.repository';

/** A stored webhook event as operators see it; not its payload, which may hold personal data. */
export class WebhookEventDto {
  @ApiProperty({ example: 'evt_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ example: 'stripe' })
  provider!: string;

  @ApiProperty({ description: "the provider's event id", example: 'evt_1PqRsT2eZvKYlo2C' })
  eventId!: string;

  @ApiProperty({ example: 'payment_intent.succeeded' })
  type!: string;

  @ApiProperty({ enum: WEBHOOK_EVENT_STATUSES })
  status!: WebhookEventStatus;

  @ApiProperty({ description: 'processing attempts so far' })
  attempts!: number;

  @ApiProperty({ type: String, nullable: true })
  lastError!: string | null;

  @ApiProperty({ format: 'date-time' })
  receivedAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  processedAt!: string | null;

  static from(row: WebhookEventRow): WebhookEventDto {
    return Object.assign(new WebhookEventDto(), {
      id: row.id,
      provider: row.provider,
      eventId: row.event_id,
      type: row.type,
      status: row.status,
      attempts: Number(row.attempts),
      lastError: row.last_error,
      receivedAt: row.received_at,
      processedAt: row.processed_at,
    });
  }
}

export class WebhookEventListDto {
  @ApiProperty({ type: [WebhookEventDto] })
  data!: WebhookEventDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass as cursor for the next page; null on the last',
  })
  nextCursor!: string | null;
}
