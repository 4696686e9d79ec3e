import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ListQueryDto } from '../../common/http/pagination';
import { SMS_STATUSES, type SmsStatus } from '../sms-status';

/** `GET /sms` query; any other parameter is a 400. */
export class ListSmsDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: SMS_STATUSES })
  @IsOptional()
  @IsIn(SMS_STATUSES, { message: `status must be one of ${SMS_STATUSES.join(', ')}` })
  status?: SmsStatus;
}
