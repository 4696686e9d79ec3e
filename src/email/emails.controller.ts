import { Body, Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { RequireScope } from '../common/auth/auth.decorators';
import { Idempotent } from '../common/idempotency/idempotency.interceptor';
import { CreateEmailDto } from './dto/create-email.dto';
import { EmailDto, EmailListDto } from './dto/email.dto';
import { ListEmailsDto } from './dto/list-emails.dto';
import { EmailsService } from './emails.service';
import { SendgridEnabledGuard } from './sendgrid-enabled.guard';

/** CONTRACT "Email": queue an email, read it back, list them. */
@ApiTags('emails')
@ApiBearerAuth()
@ApiServiceUnavailableResponse({ description: 'provider_disabled: SendGrid is not configured' })
@RequireScope('emails')
@UseGuards(SendgridEnabledGuard)
@Controller('emails')
export class EmailsController {
  constructor(private readonly emails: EmailsService) {}

  /** Stores the email and its send job in one transaction; SendGrid is called in the background. */
  @Post()
  @HttpCode(202)
  @Idempotent()
  @ApiAcceptedResponse({ type: EmailDto })
  create(@Body() body: CreateEmailDto): Promise<EmailDto> {
    return this.emails.create(body);
  }

  /** Newest first. */
  @Get()
  @ApiOkResponse({ type: EmailListDto })
  list(@Query() query: ListEmailsDto): Promise<EmailListDto> {
    return this.emails.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: EmailDto })
  get(@Param('id') id: string): Promise<EmailDto> {
    return this.emails.get(id);
  }
}
