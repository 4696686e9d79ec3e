/**
 * SendGrid Event Webhook verification, loopback only, bounded.
 *
 * 1. Verifications per second of signed batches of 1, 10 and 100 events:
 *    our guard (SendgridSignatureGuard.canActivate: headers, tolerance,
 *    node:crypto ECDSA) versus `@sendgrid/eventwebhook` (pure-JS ECDSA), in
 *    this one process, alternating rounds; the ratio is the median round's.
 *    Target (DESIGN.md "Performance budget"): ≥ 40×.
 * 2. End to end: accepted batches per second at POST /webhooks/sendgrid of the
 *    real service (a child process, SQLite, every event stored with its job
 *    before the 200), next to a bare node:http server doing the same checks
 *    and storing nothing. After the load, how long the service takes to
 *    process every stored event (bounded by BENCH_TIMEOUT_MS).
 */
import { EventWebhook } from '@sendgrid/eventwebhook';
import { fork, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from '@nestjs/common';
import type { Clock } from '../../src/common/clock';
import type { AppConfig } from '../../src/config/app.config';
import { SendgridSignatureGuard } from '../../src/email/sendgrid-signature.guard';
import {
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  SendgridSignatureVerifier,
} from '../../src/email/sendgrid-signature.verifier';
import type { BenchReply, BenchRequest } from './app';

const SIZES = [1, 10, 100];
const VERIFY_MS = Number(process.env.BENCH_VERIFY_MS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500);
const BATCHES: Record<number, number> = {
  1: Number(process.env.BENCH_BATCHES_1 ?? 2000),
  10: Number(process.env.BENCH_BATCHES_10 ?? 500),
  100: Number(process.env.BENCH_BATCHES_100 ?? 100),
};
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 60_000);
const TOLERANCE_SECONDS = 300;
/** `BENCH_E2E=0`: the verification part only. */
const E2E = process.env.BENCH_E2E !== '0';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PUBLIC_KEY = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

/** Events shaped like SendGrid's (and the emulator's): ~400 bytes each. */
function batch(size: number): string {
  const now = Math.floor(Date.now() / 1000);
  const messageId = randomBytes(16).toString('base64url');
  const events = Array.from({ length: size }, (_, i) => ({
    email: `recipient${i}@example.com`,
    timestamp: now,
    'smtp-id': `<${messageId}@ismtpd0001p1lon1.sendgrid.net>`,
    event: 'delivered',
    category: ['receipt'],
    sg_event_id: randomBytes(16).toString('base64'),
    sg_message_id: `${messageId}.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC1BC-5.${i}`,
    response: '250 2.0.0 OK  1600111036 o8si1234567qtk.123 - gsmtp',
    ip: '168.1.1.1',
    tls: 1,
    switchboard_email_id: 'eml_01hz3k5v8q0000000000000000',
  }));
  return `${JSON.stringify(events)}\r\n`;
}

interface Signed {
  body: string;
  raw: Buffer;
  timestamp: string;
  signature: string;
}

function signBatch(body: string, key: KeyObject = privateKey): Signed {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.from(timestamp + body, 'utf8'), key).toString('base64');
  return { body, raw: Buffer.from(body, 'utf8'), timestamp, signature };
}

/**
 * Calls `fn` for `ms` of wall time and answers calls per CPU-second of this
 * process (user + system): verification is synchronous, so on an idle machine
 * this is calls per second, and on a busy one other processes do not skew it.
 */
async function rate(fn: () => unknown, ms: number): Promise<number> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let calls = 0;
  do {
    for (let i = 0; i < 16; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    calls += 16;
  } while (performance.now() - started < ms);
  const used = process.cpuUsage(cpu);
  return calls / ((used.user + used.system) / 1e6);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

interface VerifyResult {
  events: number;
  bodyBytes: number;
  sdkPerSec: number;
  verifierPerSec: number;
  guardPerSec: number;
  ratio: number;
}

async function verifyBench(): Promise<VerifyResult[]> {
  const sdk = new EventWebhook();
  const sdkKey = sdk.convertPublicKeyToECDSA(PUBLIC_KEY);
  const verifier = SendgridSignatureVerifier.fromPublicKey(PUBLIC_KEY);
  if (!verifier) throw new Error('the verifier refused the bench key');
  const config = {
    sendgrid: { enabled: true, webhookPublicKey: PUBLIC_KEY, maxRps: 10 },
    webhooks: { toleranceSeconds: TOLERANCE_SECONDS, retentionDays: 30 },
  } as AppConfig;
  const clock: Clock = { now: () => new Date() };
  const guard = new SendgridSignatureGuard(config, clock);

  const results: VerifyResult[] = [];
  for (const size of SIZES) {
    const s = signBatch(batch(size));
    const request = {
      rawBody: s.raw,
      headers: {
        [SENDGRID_SIGNATURE_HEADER.toLowerCase()]: s.signature,
        [SENDGRID_TIMESTAMP_HEADER.toLowerCase()]: s.timestamp,
      },
    };
    const context = {
      switchToHttp: () => ({ getRequest: () => request }),
    } as unknown as ExecutionContext;

    // Both must agree before anything is timed.
    const tampered = s.body.replace('recipient0', 'recipientX');
    if (!sdk.verifySignature(sdkKey, s.body, s.signature, s.timestamp))
      throw new Error('SDK refused');
    if (!verifier.verify(s.raw, s.signature, s.timestamp)) throw new Error('verifier refused');
    if (!(await guard.canActivate(context))) throw new Error('guard refused');
    if (sdk.verifySignature(sdkKey, tampered, s.signature, s.timestamp))
      throw new Error('SDK took a forgery');
    if (verifier.verify(tampered, s.signature, s.timestamp))
      throw new Error('verifier took a forgery');

    // Warm both up (JIT, key caches) before anything counts.
    await rate(() => sdk.verifySignature(sdkKey, s.raw, s.signature, s.timestamp), WARMUP_MS);
    await rate(() => guard.canActivate(context), WARMUP_MS);
    await rate(() => verifier.verify(s.raw, s.signature, s.timestamp), WARMUP_MS);

    const sdkRates: number[] = [];
    const verifierRates: number[] = [];
    const guardRates: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // The SDK is given the body as it reaches a handler: a Buffer, as Fastify's rawBody.
      const sdkRate = await rate(
        () => sdk.verifySignature(sdkKey, s.raw, s.signature, s.timestamp),
        VERIFY_MS,
      );
      const verifierRate = await rate(
        () => verifier.verify(s.raw, s.signature, s.timestamp),
        VERIFY_MS,
      );
      const guardRate = await rate(() => guard.canActivate(context), VERIFY_MS);
      sdkRates.push(sdkRate);
      verifierRates.push(verifierRate);
      guardRates.push(guardRate);
      ratios.push(guardRate / sdkRate);
    }
    results.push({
      events: size,
      bodyBytes: s.raw.length,
      sdkPerSec: median(sdkRates),
      verifierPerSec: median(verifierRates),
      guardPerSec: median(guardRates),
      ratio: median(ratios),
    });
  }
  return results;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

class Receiver {
  private readonly replies: ((reply: BenchReply) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: BenchReply) => this.replies.shift()?.(reply));
  }

  static async start(env: Record<string, string>): Promise<Receiver> {
    const child = fork(join(__dirname, 'app.js'), [], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const receiver = new Receiver(child);
    const ready = await Promise.race([
      receiver.next(),
      new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`receiver exited with ${code}`))),
      ),
    ]);
    if (ready.kind !== 'ready') throw new Error('receiver did not start');
    return receiver;
  }

  async processed(): Promise<number> {
    const reply = await this.ask('counts');
    return reply.kind === 'counts' ? (reply.webhookEvents.processed ?? 0) : 0;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    await this.ask('stop');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private ask(request: BenchRequest): Promise<BenchReply> {
    const reply = this.next();
    this.child.send(request);
    return reply;
  }

  private next(): Promise<BenchReply> {
    return new Promise((resolve) => this.replies.push(resolve));
  }
}

/** Posts the pre-signed batches from `concurrency` keep-alive clients. */
async function load(
  port: number,
  batches: Signed[],
): Promise<{ seconds: number; accepted: number; errors: number; p50Ms: number; p99Ms: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const one = (s: Signed) =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: '/webhooks/sendgrid',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': s.raw.length,
          [SENDGRID_SIGNATURE_HEADER]: s.signature,
          [SENDGRID_TIMESTAMP_HEADER]: s.timestamp,
        },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - started);
          else errors += 1;
          resolve();
        });
      });
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(s.raw);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) await one(batches[next++]);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { seconds, accepted: latencies.length, errors, p50Ms: at(0.5), p99Ms: at(0.99) };
}

interface EndToEndResult {
  events: number;
  batches: number;
  bareBatchesPerSec: number;
  serviceBatchesPerSec: number;
  serviceEventsPerSec: number;
  ofBare: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  processedPerSec: number | null;
}

async function endToEnd(): Promise<EndToEndResult[]> {
  const results: EndToEndResult[] = [];
  for (const size of SIZES) {
    const count = BATCHES[size];
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-sendgrid-'));
    const port = await freePort();
    const env = {
      NODE_ENV: 'development',
      SANDBOX: 'false',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      API_KEYS: `bench:${randomBytes(16).toString('hex')}:emails`,
      DATABASE_URL: `sqlite:${join(dir, 'bench.db')}`,
      SENDGRID_API_KEY: 'SG.bench.key',
      SENDGRID_FROM_EMAIL: 'bench@example.com',
      SENDGRID_WEBHOOK_PUBLIC_KEY: PUBLIC_KEY,
      SENDGRID_API_BASE_URL: 'http://127.0.0.1:9',
      WEBHOOK_TOLERANCE_SECONDS: String(TOLERANCE_SECONDS),
    };
    try {
      // Signed before the clock starts: the load generator only sends.
      const warmup = Array.from({ length: Math.min(100, count) }, () => signBatch(batch(size)));
      const batches = Array.from({ length: count }, () => signBatch(batch(size)));

      const bareReceiver = await Receiver.start({ ...env, BENCH_MODE: 'bare' });
      await load(port, warmup);
      const bare = await load(port, batches);
      await bareReceiver.stop();

      const service = await Receiver.start({ ...env, BENCH_MODE: 'service' });
      try {
        await load(port, warmup);
        const warmEvents = warmup.length * size;
        const deadline = Date.now() + TIMEOUT_MS;
        while ((await service.processed()) < warmEvents && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const measured = await load(port, batches);
        const loadEnded = performance.now();
        const total = warmEvents + count * size;
        let processedPerSec: number | null = null;
        while (Date.now() < deadline) {
          if ((await service.processed()) >= total) {
            processedPerSec =
              (count * size) / ((performance.now() - loadEnded) / 1000 + measured.seconds);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const bareRate = bare.accepted / bare.seconds;
        const serviceRate = measured.accepted / measured.seconds;
        results.push({
          events: size,
          batches: count,
          bareBatchesPerSec: bareRate,
          serviceBatchesPerSec: serviceRate,
          serviceEventsPerSec: serviceRate * size,
          ofBare: serviceRate / bareRate,
          p50Ms: measured.p50Ms,
          p99Ms: measured.p99Ms,
          errors: measured.errors + bare.errors,
          processedPerSec,
        });
      } finally {
        await service.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    `SendGrid Event Webhook verification — node ${process.version}, ${cpus().length} × ${cpu}\n\n`,
  );

  const verify = await verifyBench();
  process.stdout.write(
    `Verifications per CPU-second, one core (median of ${ROUNDS} alternating rounds of ${VERIFY_MS} ms):\n` +
      '| events | body bytes | @sendgrid/eventwebhook | our verifier | our guard | guard ÷ SDK |\n' +
      '|---:|---:|---:|---:|---:|---:|\n' +
      verify
        .map(
          (r) =>
            `| ${r.events} | ${fmt(r.bodyBytes)} | ${fmt(r.sdkPerSec)} | ${fmt(r.verifierPerSec)} | ${fmt(r.guardPerSec)} | ${fmt(r.ratio, 1)}× |`,
        )
        .join('\n') +
      '\n\n',
  );

  const e2e = E2E ? await endToEnd() : [];
  if (E2E)
    process.stdout.write(
      `Accepted batches/s at POST /webhooks/sendgrid (${CONCURRENCY} keep-alive clients, SQLite, local job driver):\n` +
        '| events/batch | batches | bare node:http + verify | service | service ÷ bare | events stored/s | p50 ms | p99 ms | errors | events processed/s |\n' +
        '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n' +
        e2e
          .map(
            (r) =>
              `| ${r.events} | ${r.batches} | ${fmt(r.bareBatchesPerSec)} | ${fmt(r.serviceBatchesPerSec)} | ${fmt(r.ofBare, 2)} | ${fmt(r.serviceEventsPerSec)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${r.errors} | ${r.processedPerSec === null ? 'timeout' : fmt(r.processedPerSec)} |`,
          )
          .join('\n') +
        '\n',
    );
  const worst = Math.min(...verify.map((r) => r.ratio));
  process.stdout.write(
    `\nTarget ≥ 40× the SDK verifier: ${worst >= 40 ? 'met' : 'NOT met'} (lowest ${fmt(worst, 1)}×)\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
