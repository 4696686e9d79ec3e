import { ApiProperty } from '@nestjs/swagger';
import { JOB_STATUSES, type JobStatus, type JobView } from '../job-queue';

/** A background job as operators see it (its payload is not shown: it may hold personal data). */
export class JobViewDto implements JobView {
  @ApiProperty({ example: 'job_01hz3k5v8q0000000000000000' })
  id!: string;

  @ApiProperty({ example: 'webhook.process' })
  type!: string;

  @ApiProperty({
    enum: JOB_STATUSES,
    description: 'failed: the last attempt failed and another runs at runAt',
  })
  status!: JobStatus;

  @ApiProperty({ description: 'attempts started so far' })
  attempts!: number;

  @ApiProperty({ type: String, nullable: true })
  lastError!: string | null;

  @ApiProperty({ format: 'date-time', description: 'when the job runs (next)' })
  runAt!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
}

export class JobListDto {
  @ApiProperty({ type: [JobViewDto] })
  data!: JobViewDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'pass as cursor for the next page; null on the last',
  })
  nextCursor!: string | null;
}
