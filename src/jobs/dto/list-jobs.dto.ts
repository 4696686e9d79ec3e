import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ListQueryDto } from '../../common/http/pagination';
import { JOB_STATUSES, type JobStatus } from '../job-queue';

/** `GET /jobs` query; any other parameter is a 400 (the global pipe forbids unknown fields). */
export class ListJobsDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: JOB_STATUSES })
  @IsOptional()
  @IsIn(JOB_STATUSES, { message: `status must be one of ${JOB_STATUSES.join(', ')}` })
  status?: JobStatus;
}
