import { Controller, Get, Inject, Res } from '@nestjs/common';
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

@ApiTags('operations')
@Public()
@Controller('health')
export class HealthController {
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

  private async probe(key: string, check: () => Promise<void>): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(key);
    try {
      await Promise.race([
        check(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 2000).unref()),
      ]);
      return indicator.up();
    } catch (err) {
      return indicator.down({ message: err instanceof Error ? err.message : 'unavailable' });
    }
  }
}
