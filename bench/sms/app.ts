/**
 * The service as the benchmark runs it, in a child process of its own: the
 * real application, configured from the environment the benchmark passes,
 * with a BullMQ prefix of its own; answers `counts` and `stop` over IPC.
 */
import { createApp } from '../../src/app.factory';
import { loadAppConfig } from '../../src/config/app.config';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { JobQueueOptionsModule } from '../../src/jobs/job-queue.options';
import { instrumentSqlite } from '../shared/sqlite-stats';

export type BenchRequest = 'counts' | 'stop';
export type BenchReply =
  | { kind: 'ready' }
  | {
      kind: 'counts';
      statuses: Record<string, number>;
      webhookEvents: Record<string, number>;
      /** CPU time this process has used so far (user + system), µs. */
      cpuMicros: number;
    }
  | { kind: 'stopped' };

async function main(): Promise<void> {
  const printSqlStats = process.env.BENCH_SQL_STATS ? instrumentSqlite() : undefined;
  if (process.env.BENCH_SQL_STATS) {
    // Event-loop utilisation each second: near 1 means the service is CPU-bound.
    let last = performance.eventLoopUtilization();
    setInterval(() => {
      const now = performance.eventLoopUtilization();
      process.stderr.write(
        `elu ${performance.eventLoopUtilization(now, last).utilization.toFixed(2)}\n`,
      );
      last = now;
    }, 1000).unref();
  }
  const config = loadAppConfig(process.env);
  const app = await createApp(config, {
    imports: [
      JobQueueOptionsModule.forRoot({
        bullmqPrefix: process.env.BENCH_BULLMQ_PREFIX ?? 'switchboard-bench',
      }),
    ],
  });
  await app.listen({ host: config.http.host, port: config.http.port });
  const db = app.get<Db>(DATABASE);
  const send = (reply: BenchReply) => process.send?.(reply);

  process.on('message', (request: BenchRequest) => {
    void (async () => {
      if (request === 'counts') {
        const statuses = await db
          .selectFrom('sms_messages')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute();
        const events = await db
          .selectFrom('webhook_events')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute();
        send({
          kind: 'counts',
          statuses: Object.fromEntries(statuses.map((r) => [r.status, Number(r.n)])),
          webhookEvents: Object.fromEntries(events.map((r) => [r.status, Number(r.n)])),
          cpuMicros: process.cpuUsage().user + process.cpuUsage().system,
        });
      } else if (request === 'stop') {
        printSqlStats?.();
        await app.close();
        send({ kind: 'stopped' });
        process.disconnect?.();
      }
    })();
  });
  send({ kind: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench app failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
