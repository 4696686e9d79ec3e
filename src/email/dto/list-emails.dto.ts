import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ListQueryDto } from '../../common/http/pagination';
import { EMAIL_STATUSES, type EmailStatus } from '../email-status';

/** `GET /emails` query; any other parameter is a 400 (the global pipe forbids unknown fields). */
export class ListEmailsDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: EMAIL_STATUSES })
  @IsOptional()
  @IsIn(EMAIL_STATUSES, { message: `status must be one of ${EMAIL_STATUSES.join(', ')}` })
  status?: EmailStatus;
}
