import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ListQueryDto } from '../../common/http/pagination';
import { PAYMENT_STATUSES, type PaymentStatus } from '../payments.tables';

/** `GET /payments`: `limit`, `cursor` and an optional `status`; any other parameter is a 400. */
export class ListPaymentsDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: PAYMENT_STATUSES })
  @IsOptional()
  @IsIn(PAYMENT_STATUSES, { message: `status must be one of ${PAYMENT_STATUSES.join(', ')}` })
  status?: PaymentStatus;
}
