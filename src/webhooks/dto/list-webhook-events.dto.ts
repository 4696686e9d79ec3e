import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { ListQueryDto } from '../../common/http/pagination';
import { WEBHOOK_EVENT_STATUSES, type WebhookEventStatus } from '../webhook-events.repository';

/** `GET /webhook-events` query; any other parameter is a 400 (the global pipe forbids them). */
export class ListWebhookEventsDto extends ListQueryDto {
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
}
