/**
 * One server under test, a child process pinned to its own core:
 * - `plain`: bare Fastify that verifies `Stripe-Signature`, parses the JSON and answers;
 * - `nest`: a bare Nest + Fastify app (rawBody) whose one controller answers behind a
 *   guard that verifies the signature: what the framework alone costs (DESIGN.md's
 *   "Nest+Fastify + guard" baseline);
 * - `nest-context`: the same with a per-request AsyncLocalStorage context, as any
 *   request-scoped logging needs (nestjs-pino's store): what that costs on Node 20;
 * - `app`: Switchboard with the payments module, production settings.
 * Both verify with the same function (src/payments/stripe-signature.verifier.ts), so
 * the ratio measures everything else: Nest, guards, the durable insert, the
 * request log and the background processing that shares the core.
 * Answers `stats`, `drain` and `stop` over IPC.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Type-only: the plain server must not load Nest (its memory is part of the comparison).
import type { CanActivate, ExecutionContext, RawBodyRequest } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type { Db } from '../../src/database/database.types';
import { verifyStripeSignature } from '../../src/payments/stripe-signature.verifier';
import { instrumentSqlite } from '../shared/sqlite-stats';

export const BENCH_SECRET = 'whsec_benchmarkSecret0000000000000000';
const TOLERANCE_SECONDS = 300;

/** `ingest`: the application with its job runner stopped after the warm-up, so events are stored only. */
export type Target = 'plain' | 'nest' | 'nest-context' | 'app' | 'ingest';

export interface ServerStats {
  /** CPU time used by the process so far (user + system), in µs. */
  cpuUs: number;
  rss: number;
  /** Peak resident set size of the process so far. */
  maxRss: number;
  /** Stripe events stored (app only). */
  stored: number | null;
  /** Stored events not yet processed (app only). */
  pending: number | null;
}

export type ServerRequest = { id: number; type: 'stats' | 'drain' | 'pause' | 'stop' };
export type ServerReply =
  | { type: 'ready'; port: number; stats: ServerStats }
  | { id: number; stats?: ServerStats; ms?: number; error?: string };

interface Running {
  port: number;
  stats(): Promise<ServerStats>;
  /** Waits until every stored event is processed; returns how long it took. */
  drain(): Promise<number>;
  /** Stops background processing (the events stay stored, unprocessed). */
  pause(): Promise<void>;
  close(): Promise<void>;
}

function usage(): Pick<ServerStats, 'cpuUs' | 'rss' | 'maxRss'> {
  const cpu = process.cpuUsage();
  // resourceUsage() reports KiB.
  return {
    cpuUs: cpu.user + cpu.system,
    rss: process.memoryUsage().rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
  };
}

async function startPlain(): Promise<Running> {
  // Loaded here, not at the top, so the plain server's memory holds none of the application.
  const { default: Fastify } = await import('fastify');
  const fastify = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );
  fastify.post('/webhooks/stripe', async (request, reply) => {
    const raw = request.body as Buffer;
    const header = request.headers['stripe-signature'];
    const check = verifyStripeSignature(
      raw,
      typeof header === 'string' ? header : undefined,
      [BENCH_SECRET],
      TOLERANCE_SECONDS,
      Math.floor(Date.now() / 1000),
    );
    if (!check.ok) return reply.code(400).send({ error: check.reason });
    // Parsed, as the application's body parser does.
    JSON.parse(raw.toString('utf8'));
    return { received: true };
  });
  await fastify.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: (fastify.server.address() as AddressInfo).port,
    stats: () => Promise.resolve({ ...usage(), stored: null, pending: null }),
    drain: () => Promise.resolve(0),
    pause: () => Promise.resolve(),
    close: () => fastify.close(),
  };
}

async function startNest(withContext: boolean): Promise<Running> {
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const common = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  class SignatureGuard implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      const request = context.switchToHttp().getRequest<RawBodyRequest<FastifyRequest>>();
      const header = request.headers['stripe-signature'];
      const check = verifyStripeSignature(
        request.rawBody ?? Buffer.alloc(0),
        typeof header === 'string' ? header : undefined,
        [BENCH_SECRET],
        TOLERANCE_SECONDS,
        Math.floor(Date.now() / 1000),
      );
      if (!check.ok) throw new common.BadRequestException(check.reason);
      return true;
    }
  }
  // Decorators applied by hand: the classes are made here, after the lazy imports.
  class WebhookController {
    receive(_body: unknown): { received: true } {
      return { received: true };
    }
  }
  const receive = Object.getOwnPropertyDescriptor(WebhookController.prototype, 'receive');
  if (!receive) throw new Error('no handler');
  common.Body()(WebhookController.prototype, 'receive', 0);
  for (const decorate of [
    common.Post('stripe'),
    common.HttpCode(200),
    common.UseGuards(SignatureGuard),
  ])
    decorate(WebhookController.prototype, 'receive', receive);
  common.Controller('webhooks')(WebhookController);
  class BenchModule {}
  common.Module({ controllers: [WebhookController], providers: [SignatureGuard] })(BenchModule);

  const app = await NestFactory.create<NestFastifyApplication>(
    BenchModule,
    new FastifyAdapter({ bodyLimit: 1024 * 1024, logger: false }),
    { rawBody: true, logger: false },
  );
  if (withContext) {
    const context = new AsyncLocalStorage<{ requestId: string }>();
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRequest', (request, _reply, done) => {
        context.run({ requestId: String(request.id) }, done);
      });
  }
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    port: (app.getHttpServer().address() as AddressInfo).port,
    stats: () => Promise.resolve({ ...usage(), stored: null, pending: null }),
    drain: () => Promise.resolve(0),
    pause: () => Promise.resolve(),
    close: () => app.close(),
  };
}

async function startApp(databaseUrl: string | undefined): Promise<Running> {
  // Before the application opens its database, so every statement is timed.
  const printSqlStats = process.env.BENCH_SQL_STATS ? instrumentSqlite() : undefined;
  const { default: pino } = await import('pino');
  const { createApp } = await import('../../src/app.factory');
  const { RateLimitModule } = await import('../../src/common/rate-limit/rate-limit.module');
  const { loadAppConfig } = await import('../../src/config/app.config');
  const { DATABASE } = await import('../../src/database/database.module');
  const { JobQueue } = await import('../../src/jobs/job-queue');
  const { JobQueueDriver } = await import('../../src/jobs/job-queue.driver');
  const { JobsModule } = await import('../../src/jobs/jobs.module');
  const { PaymentsModule } = await import('../../src/payments/payments.module');
  const { WebhooksModule } = await import('../../src/webhooks/webhooks.module');
  const dir = databaseUrl ? undefined : mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  // Production, behind a TLS-terminating proxy; request logs at info, buffered, to /dev/null.
  const config = loadAppConfig({
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    PUBLIC_BASE_URL: 'https://switchboard.bench.invalid',
    TRUST_PROXY: 'true',
    API_KEYS: 'bench:bench-secret-000000000000000000:payments+admin',
    DATABASE_URL: databaseUrl ?? `sqlite:${join(dir ?? '', 'bench.db')}`,
    STRIPE_API_KEY: 'sk_test_benchmark000000000000000000',
    STRIPE_WEBHOOK_SECRET: BENCH_SECRET,
    // The events name PaymentIntents made elsewhere: the handlers look them up and never call Stripe.
    STRIPE_API_BASE_URL: 'http://127.0.0.1:9',
    WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS),
    // For A/B runs: `BENCH_APP_ENV='{"LOG_LEVEL":"warn"}'` overrides any of the above.
    ...(JSON.parse(process.env.BENCH_APP_ENV ?? '{}') as Record<string, string>),
  });
  const app = await createApp(config, {
    imports: [JobsModule, WebhooksModule, RateLimitModule, PaymentsModule],
    logDestination: pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const db = app.get<Db>(DATABASE);
  const jobs = app.get(JobQueue);
  const count = async (status?: 'received'): Promise<number> => {
    const row = await db
      .selectFrom('webhook_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('provider', '=', 'stripe')
      .$if(status !== undefined, (q) => q.where('status', '=', status ?? 'received'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  return {
    port: (app.getHttpServer().address() as AddressInfo).port,
    stats: async () => ({ ...usage(), stored: await count(), pending: await count('received') }),
    drain: async () => {
      const started = Date.now();
      await jobs.whenIdle();
      return Date.now() - started;
    },
    pause: () => app.get(JobQueueDriver).stop(),
    close: async () => {
      await app.close();
      printSqlStats?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const target = process.argv[2] as Target;
  const server =
    target === 'plain'
      ? await startPlain()
      : target === 'nest' || target === 'nest-context'
        ? await startNest(target === 'nest-context')
        : await startApp(process.env.BENCH_DATABASE_URL);
  const send = (reply: ServerReply): void => {
    process.send?.(reply);
  };
  process.on('message', (message: ServerRequest) => {
    const fail = (err: unknown): void =>
      send({ id: message.id, error: String(err instanceof Error ? err.stack : err) });
    switch (message.type) {
      case 'stats':
        server.stats().then((stats) => send({ id: message.id, stats }), fail);
        break;
      case 'drain':
        server.drain().then((ms) => send({ id: message.id, ms }), fail);
        break;
      case 'pause':
        server.pause().then(() => send({ id: message.id }), fail);
        break;
      case 'stop':
        server
          .close()
          .then(() => send({ id: message.id }), fail)
          .finally(() => process.disconnect());
        break;
    }
  });
  send({ type: 'ready', port: server.port, stats: await server.stats() });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
