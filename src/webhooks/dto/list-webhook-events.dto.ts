import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { WEBHOOK_EVENT_STATUSES, type WebhookEventStatus } from '../webhook-events.repository';

/** `GET /webhook-events` query; any other parameter is a 400 (the global pipe forbids them). */
export class ListWebhookEventsDto {
  @ApiPropertyOptional({
    example: 'stripe',
    description: 'stripe, twilio, sendgrid (or another provider with handlers)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  provider?: string;

  @ApiPropertyOptional({ enum: WEBHOOK_EVENT_STATUSES })
  @IsOptional()
  @IsIn(WEBHOOK_EVENT_STATUSES, {
    message: `status must be one of ${WEBHOOK_EVENT_STATUSES.join(', ')}`,
  })
  status?: WebhookEventStatus;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 100' })
  @Min(1, { message: 'limit must be an integer from 1 to 100' })
  @Max(100, { message: 'limit must be an integer from 1 to 100' })
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}
