import { Controller, Get, Inject, Logger, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import {
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorResult,
  HealthIndicatorService,
} from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import type Redis from 'ioredis';
import { sql } from 'kysely';
import { Public } from '../common/auth/auth.decorators';
import { REDIS } from '../common/redis/redis.module';
import { InjectDb } from '../database/database.module';
import type { Db } from '../database/database.types';
import { ReadinessRegistry } from './readiness';

const PROBE_TIMEOUT_MS = 2000;

class ProbeTimeout extends Error {
  constructor() {
    super('timed out');
  }
}

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @InjectDb() private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis | null,
    private readonly readiness: ReadinessRegistry,
  ) {}

  /** 200 while the process runs. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** 200 when the database, Redis (if used) and the job queue answer; else 503 naming what failed. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    const checks = [
      () => this.probe('database', async () => void (await sql`select 1`.execute(this.db))),
      ...(this.redis
        ? [() => this.probe('redis', async () => void (await this.redis?.ping()))]
        : []),
      ...this.readiness.all().map((c) => () => this.probe(c.name, () => c.check())),
    ];
    try {
      return await this.health.check(checks);
    } catch (err) {
      const response = (err as { getResponse?: () => HealthCheckResult }).getResponse?.();
      if (!response) throw err;
      void reply.status(503);
      return response;
    }
  }

  /**
   * One check, within 2 s. The answer is public: it says only `timed out` or
   * `unavailable`; the driver's own text (host names, addresses, database
   * user names) goes to the log.
   */
  private async probe(key: string, check: () => Promise<void>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new ProbeTimeout()), PROBE_TIMEOUT_MS).unref(),
        ),
      ]);
      return indicator.up();
    } catch (err) {
      const timedOut = err instanceof ProbeTimeout;
      this.logger.warn(
        { check: key, err: err instanceof Error ? err.message : String(err) },
        'readiness check failed',
      );
      return indicator.down({ message: timedOut ? 'timed out' : 'unavailable' });
    }
  }
}
