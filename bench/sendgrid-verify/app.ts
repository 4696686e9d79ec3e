/**
 * The receiving side of the end-to-end benchmark, in a child process of its
 * own so the load generator does not share its CPU:
 * - `service`: the real application with the email module (verify, store every
 *   event with its processing job, 200);
 * - `bare`: node:http with the same signature and timestamp checks and a
 *   JSON.parse, storing nothing: the ceiling the service is compared with.
 * Configured from the environment; answers `counts` and `stop` over IPC.
 */
import * as http from 'node:http';
import { createApp } from '../../src/app.factory';
import { RateLimitModule } from '../../src/common/rate-limit/rate-limit.module';
import { loadAppConfig } from '../../src/config/app.config';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { EmailModule } from '../../src/email/email.module';
import {
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  SendgridSignatureVerifier,
} from '../../src/email/sendgrid-signature.verifier';
import { JobsModule } from '../../src/jobs/jobs.module';
import { WebhooksModule } from '../../src/webhooks/webhooks.module';

export type BenchRequest = 'counts' | 'stop';
export type BenchReply =
  | { kind: 'ready'; port: number }
  | { kind: 'counts'; webhookEvents: Record<string, number> }
  | { kind: 'stopped' };

const send = (reply: BenchReply): void => void process.send?.(reply);

async function service(): Promise<void> {
  const config = loadAppConfig(process.env);
  const app = await createApp(config, {
    imports: [JobsModule, WebhooksModule, RateLimitModule, EmailModule],
  });
  await app.listen({ host: '127.0.0.1', port: config.http.port });
  const db = app.get<Db>(DATABASE);
  process.on('message', (request: BenchRequest) => {
    void (async () => {
      if (request === 'counts') {
        const rows = await db
          .selectFrom('webhook_events')
          .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('status')
          .execute();
        send({
          kind: 'counts',
          webhookEvents: Object.fromEntries(rows.map((r) => [r.status, Number(r.n)])),
        });
      } else {
        await app.close();
        send({ kind: 'stopped' });
        process.disconnect?.();
      }
    })();
  });
  send({ kind: 'ready', port: config.http.port });
}

async function bare(): Promise<void> {
  const verifier = SendgridSignatureVerifier.fromPublicKey(
    process.env.SENDGRID_WEBHOOK_PUBLIC_KEY ?? '',
  );
  if (!verifier) throw new Error('SENDGRID_WEBHOOK_PUBLIC_KEY is not a P-256 key');
  const tolerance = Number(process.env.WEBHOOK_TOLERANCE_SECONDS ?? 300);
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const signature = req.headers[SENDGRID_SIGNATURE_HEADER.toLowerCase()];
      const timestamp = req.headers[SENDGRID_TIMESTAMP_HEADER.toLowerCase()];
      const fresh =
        typeof timestamp === 'string' &&
        Math.abs(Math.floor(Date.now() / 1000) - Number(timestamp)) <= tolerance;
      const ok =
        fresh &&
        typeof signature === 'string' &&
        verifier.verify(body, signature, timestamp) &&
        Array.isArray(JSON.parse(body.toString('utf8')));
      res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' });
      res.end(ok ? '{"received":true}' : '{"code":"invalid_signature"}');
    });
  });
  const port = Number(process.env.PORT ?? 0);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  process.on('message', (request: BenchRequest) => {
    if (request === 'counts') send({ kind: 'counts', webhookEvents: {} });
    else {
      server.closeAllConnections();
      server.close(() => {
        send({ kind: 'stopped' });
        process.disconnect?.();
      });
    }
  });
  send({ kind: 'ready', port });
}

(process.env.BENCH_MODE === 'bare' ? bare() : service()).catch((err: unknown) => {
  process.stderr.write(
    `bench app failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
