import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../common/auth/auth.decorators';
import { AppError } from '../common/errors/app-error';
import { DEFAULT_PAGE_LIMIT } from '../common/http/pagination';
import { Idempotent } from '../common/idempotency/idempotency.interceptor';
import { JobListDto, JobViewDto } from './dto/job-view.dto';
import { ListJobsDto } from './dto/list-jobs.dto';
import { JobQueue } from './job-queue';

/** Background jobs, for operators (CONTRACT "Operations"). */
@ApiTags('operations')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobQueue) {}

  /** Jobs, newest first; `?status=dead` is the dead-letter list. */
  @Get()
  @ApiOkResponse({ type: JobListDto })
  list(@Query() query: ListJobsDto): Promise<JobListDto> {
    return this.jobs.list({
      status: query.status,
      limit: query.limit ?? DEFAULT_PAGE_LIMIT,
      cursor: query.cursor,
    });
  }

  /** Queues a dead job again with its attempts reset. */
  @Post(':id/retry')
  @HttpCode(202)
  @Idempotent()
  @ApiAcceptedResponse({ type: JobViewDto })
  async retry(@Param('id') id: string): Promise<JobViewDto> {
    const job = await this.jobs.get(id);
    if (!job) throw AppError.notFound('job');
    if (job.status !== 'dead')
      throw new AppError(
        'invalid_state',
        `only a dead job can be retried; this one is ${job.status}`,
      );
    const retried = await this.jobs.retry(id);
    // Someone else retried it between our read and our update.
    if (!retried)
      throw new AppError(
        'invalid_state',
        'only a dead job can be retried; this one is no longer dead',
      );
    return retried;
  }
}
