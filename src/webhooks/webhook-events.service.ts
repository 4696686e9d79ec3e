import { Injectable } from '@nestjs/common';
import { AppError } from '../common/errors/app-error';
import type { ProviderId } from '../config/app.config';
import type { ListWebhookEventsDto } from './dto/list-webhook-events.dto';
import { WebhookEventDto, WebhookEventListDto } from './dto/webhook-event.dto';
import { decodeCursor, DEFAULT_PAGE_LIMIT, encodeCursor } from '../common/http/pagination';
import { WEBHOOK_EVENT_ID_PATTERN } from './webhook-event-id';
import { WebhookEventsRepository } from './webhook-events.repository';
import { WebhookHandlerRegistry } from './webhook-handler.registry';
import { WebhookInbox } from './webhook-inbox.service';

const BUILT_IN_PROVIDERS: readonly ProviderId[] = ['stripe', 'twilio', 'sendgrid'];

/** The operators' view of the inbox: `/webhook-events`. */
@Injectable()
export class WebhookEventsService {
  constructor(
    private readonly repo: WebhookEventsRepository,
    private readonly registry: WebhookHandlerRegistry,
    private readonly inbox: WebhookInbox,
  ) {}

  async list(query: ListWebhookEventsDto): Promise<WebhookEventListDto> {
    const problems: { field: string; message: string }[] = [];
    const providers = [...new Set([...BUILT_IN_PROVIDERS, ...this.registry.providers()])];
    if (query.provider !== undefined && !providers.includes(query.provider)) {
      problems.push({
        field: 'provider',
        message: `provider must be one of ${providers.join(', ')}`,
      });
    }
    const position =
      query.cursor === undefined ? undefined : decodeCursor(query.cursor, WEBHOOK_EVENT_ID_PATTERN);
    const after = position && { receivedAt: position.createdAt, id: position.id };
    if (query.cursor !== undefined && !after)
      problems.push({ field: 'cursor', message: 'cursor is not a valid page cursor' });
    if (problems.length > 0) throw AppError.validation(problems);

    const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
    const rows = await this.repo.list({
      provider: query.provider,
      status: query.status,
      limit,
      after,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map((row) => WebhookEventDto.from(row)),
      nextCursor:
        rows.length > limit && last
          ? encodeCursor({ createdAt: last.received_at, id: last.id })
          : null,
    };
  }

  async get(id: string): Promise<WebhookEventDto> {
    const row = await this.repo.findById(id);
    if (!row) throw AppError.notFound('webhook event');
    return WebhookEventDto.from(row);
  }

  async replay(id: string): Promise<WebhookEventDto> {
    const row = await this.inbox.replay(id);
    if (!row) throw AppError.notFound('webhook event');
    return WebhookEventDto.from(row);
  }
}
