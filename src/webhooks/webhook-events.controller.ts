import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../common/auth/auth.decorators';
import { Idempotent } from '../common/idempotency/idempotency.interceptor';
import { ListWebhookEventsDto } from './dto/list-webhook-events.dto';
import { WebhookEventDto, WebhookEventListDto } from './dto/webhook-event.dto';
import { WebhookEventsService } from './webhook-events.service';

/** Stored provider webhooks, for operators (CONTRACT "Operations"). */
@ApiTags('operations')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('webhook-events')
export class WebhookEventsController {
  constructor(private readonly events: WebhookEventsService) {}

  /** Stored events, newest first. */
  @Get()
  @ApiOkResponse({ type: WebhookEventListDto })
  list(@Query() query: ListWebhookEventsDto): Promise<WebhookEventListDto> {
    return this.events.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: WebhookEventDto })
  get(@Param('id') id: string): Promise<WebhookEventDto> {
    return this.events.get(id);
  }

  /** Processes a stored event again, whatever its status; handlers are idempotent. */
  @Post(':id/replay')
  @HttpCode(202)
  @Idempotent()
  @ApiAcceptedResponse({ type: WebhookEventDto })
  replay(@Param('id') id: string): Promise<WebhookEventDto> {
    return this.events.replay(id);
  }
}
