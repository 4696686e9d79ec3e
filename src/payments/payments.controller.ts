import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { RequireScope } from '../common/auth/auth.decorators';
import { Idempotent } from '../common/idempotency/idempotency.interceptor';
import { CancelPaymentDto } from './dto/cancel-payment.dto';
import { CreatePaymentDto } from './dto/create-payment.dto';
import { CreateRefundDto } from './dto/create-refund.dto';
import { ListPaymentsDto } from './dto/list-payments.dto';
import { CreatedPaymentDto, PaymentDto, PaymentListDto } from './dto/payment.dto';
import { RefundDto } from './dto/refund.dto';
import { PaymentsService } from './payments.service';
import { StripeEnabledGuard } from './stripe-enabled.guard';

const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description: '1–255 printable ASCII characters; a retry with the same key never acts twice',
};

/** CONTRACT "Payments": thin — DTO in, service, response out. */
@ApiTags('payments')
@ApiBearerAuth()
@RequireScope('payments')
@UseGuards(StripeEnabledGuard)
@ApiResponse({ status: 503, description: 'provider_disabled or provider_unavailable' })
@Controller('payments')
export class PaymentsController {
  constructor(private readonly payments: PaymentsService) {}

  @Post()
  @Idempotent()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiCreatedResponse({ type: CreatedPaymentDto })
  @ApiResponse({
    status: 402,
    description: 'card_declined; the payment is recorded, its id in details',
  })
  @ApiResponse({ status: 422, description: 'provider_rejected' })
  create(
    @Body() dto: CreatePaymentDto,
    @Req() request: FastifyRequest,
  ): Promise<CreatedPaymentDto> {
    return this.payments.create(dto, request.idempotencyScopeKey);
  }

  @Get()
  @ApiOkResponse({ type: PaymentListDto })
  list(@Query() query: ListPaymentsDto): Promise<PaymentListDto> {
    return this.payments.list(query);
  }

  @Get(':id')
  @ApiOkResponse({ type: PaymentDto })
  get(@Param('id') id: string): Promise<PaymentDto> {
    return this.payments.get(id);
  }

  @Post(':id/refunds')
  @Idempotent()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiCreatedResponse({ type: RefundDto })
  @ApiResponse({ status: 409, description: 'invalid_state: the payment has not succeeded' })
  @ApiResponse({ status: 422, description: 'refund_exceeds_payment or provider_rejected' })
  refund(
    @Param('id') id: string,
    @Body() dto: CreateRefundDto,
    @Req() request: FastifyRequest,
  ): Promise<RefundDto> {
    return this.payments.refund(id, dto, request.idempotencyScopeKey);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Idempotent()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiOkResponse({ type: PaymentDto })
  @ApiResponse({ status: 409, description: 'invalid_state: succeeded or canceled' })
  cancel(
    @Param('id') id: string,
    @Body() dto: CancelPaymentDto,
    @Req() request: FastifyRequest,
  ): Promise<PaymentDto> {
    return this.payments.cancel(id, dto, request.idempotencyScopeKey);
  }
}
