import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { RequireScope } from '../common/auth/auth.decorators';
import { Idempotent } from '../common/idempotency/idempotency.interceptor';
import { DEFAULT_PAGE_LIMIT } from '../common/http/pagination';
import { CreateSmsDto } from './dto/create-sms.dto';
import { ListSmsDto } from './dto/list-sms.dto';
import { SmsMessageDto, SmsMessageListDto } from './dto/sms-message.dto';
import { SmsService } from './sms.service';
import { TwilioEnabledGuard } from './twilio-enabled.guard';

/** Outbound SMS (CONTRACT "SMS", scope `sms`). */
@ApiTags('sms')
@ApiBearerAuth()
@ApiServiceUnavailableResponse({ description: 'provider_disabled: Twilio is not configured' })
@RequireScope('sms')
@UseGuards(TwilioEnabledGuard)
@Controller('sms')
export class SmsController {
  constructor(private readonly sms: SmsService) {}

  /** Accepts a message for sending in the background; it is never lost once answered. */
  @Post()
  @HttpCode(202)
  @Idempotent()
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: '1–255 printable ASCII characters',
  })
  @ApiAcceptedResponse({ type: SmsMessageDto, description: 'stored with status queued' })
  create(@Body() dto: CreateSmsDto): Promise<SmsMessageDto> {
    return this.sms.create(dto);
  }

  @Get(':id')
  @ApiOkResponse({ type: SmsMessageDto })
  @ApiNotFoundResponse({ description: 'not_found' })
  get(@Param('id') id: string): Promise<SmsMessageDto> {
    return this.sms.get(id);
  }

  /** Newest first. */
  @Get()
  @ApiOkResponse({ type: SmsMessageListDto })
  list(@Query() query: ListSmsDto): Promise<SmsMessageListDto> {
    return this.sms.list({
      status: query.status,
      limit: query.limit ?? DEFAULT_PAGE_LIMIT,
      cursor: query.cursor,
    });
  }
}
