/**
 * SMS throughput, end to end, on loopback only:
 *   load generator ──POST /sms──▶ service (child process) ──twilio SDK──▶ Twilio emulator
 *                                  ▲                                        │
 *                                  └────── signed status callbacks ─────────┘
 * Measures, for N messages sent by C concurrent clients:
 *   accepted/s   N / time until the last 202 from POST /sms
 *   delivered/s  N / time until the emulator has created the N-th message (Twilio answered 201)
 *   settled/s    N / time until every message has its final status in our database:
 *                `delivered` (its three status callbacks verified, stored and
 *                processed) when the callbacks come to the service, `sent` when
 *                they go to a stub (the send path alone)
 *   CPU/msg      the service's CPU time (user + system) per message over that span
 * for the local job driver and (with BENCH_REDIS_URL) BullMQ, on SQLite and
 * (with BENCH_DATABASE_URL, a fresh database per run) PostgreSQL. Bounded: N
 * messages, and each phase gives up after BENCH_TIMEOUT_MS. See bench/README.md.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import type { EmulatorDefinition } from '../../src/sandbox/core/types';
import { createTwilioEmulator, TWILIO_VALID_FROM } from '../../src/sandbox/twilio/twilio.emulator';
import Redis from 'ioredis';
import { Client } from 'pg';
import type { BenchReply, BenchRequest } from './app';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 200);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 90_000);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'warn';
const REDIS_URL = process.env.BENCH_REDIS_URL;
const POSTGRES_URL = process.env.BENCH_DATABASE_URL;

const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const API_KEY = `bench-${randomBytes(12).toString('hex')}`;

interface Scenario {
  name: string;
  env: Record<string, string>;
  /**
   * `app`: Twilio's status callbacks go to the service (the whole system under load);
   * `sink`: to a stub that answers 200, isolating the send path.
   */
  callbacks: 'app' | 'sink';
}

interface Result {
  scenario: string;
  accepted: number;
  acceptedPerSec: number;
  deliveredPerSec: number | null;
  settledPerSec: number | null;
  p50Ms: number;
  p99Ms: number;
  /** Service CPU time per message, from the first POST until every message settled (µs). */
  cpuPerMessageUs: number | null;
  errors: number;
  /** Messages the emulator created beyond one per accepted message (a send repeated). */
  sentTwice: number;
  note?: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** The Twilio emulator, counting the messages it created; `when(n)` resolves once n exist. */
function countingEmulator() {
  const twilio = createTwilioEmulator({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  let created = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const definition: EmulatorDefinition = {
    ...twilio,
    handle(req, ctx) {
      const res = twilio.handle(req, ctx);
      if (res.status === 201) {
        created += 1;
        for (const w of waiters.filter((w) => created >= w.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      return res;
    },
  };
  return {
    definition,
    created: () => created,
    when: (n: number) =>
      created >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ n, resolve })),
  };
}

class ServiceProcess {
  private readonly replies: ((reply: BenchReply) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: BenchReply) => this.replies.shift()?.(reply));
  }

  static async start(env: Record<string, string>): Promise<ServiceProcess> {
    const child = fork(join(__dirname, 'app.js'), [], {
      env: {
        PATH: process.env.PATH ?? '',
        BENCH_SQL_STATS: process.env.BENCH_SQL_STATS ?? '',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // BENCH_PROFILE=dir: a V8 CPU profile of the service, for finding where the time goes.
      execArgv: process.env.BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
        : [],
    });
    const service = new ServiceProcess(child);
    const ready = await Promise.race([
      service.next(),
      new Promise<never>((_, reject) =>
        child.once('exit', (code) => reject(new Error(`service exited with ${code}`))),
      ),
    ]);
    if (ready.kind !== 'ready') throw new Error('service did not start');
    return service;
  }

  async counts(): Promise<Extract<BenchReply, { kind: 'counts' }>> {
    const reply = await this.ask('counts');
    if (reply.kind !== 'counts') throw new Error('unexpected reply');
    return reply;
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

/**
 * The machine's own yardstick, measured in the same run (the host may be
 * shared): a bare node:http server in a child process answering the same
 * load generator, requests per second.
 */
async function bareHttpBaseline(): Promise<number> {
  const port = await freePort();
  const code = `require('http').createServer((q, r) => { q.resume(); q.on('end', () => { r.writeHead(202, { 'content-type': 'application/json' }); r.end('{}'); }); }).listen(${port}, '127.0.0.1', () => process.stdout.write('ready'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  try {
    const count = 20_000;
    const t0 = performance.now();
    await load(`http://127.0.0.1:${port}`, count, CONCURRENCY, 'baseline');
    return Math.round((count / (performance.now() - t0)) * 1000);
  } finally {
    child.kill();
  }
}

/** Sends `count` messages from `concurrency` keep-alive clients; resolves with each request's latency. */
async function load(
  baseUrl: string,
  count: number,
  concurrency: number,
  label: string,
): Promise<{ latencies: number[]; errors: number; lastAcceptedAt: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL('/sms', baseUrl);
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  let lastAcceptedAt = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({ to: '+15551234567', body: `${label} message ${i}` });
      const started = performance.now();
      const req = http.request(url, {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${API_KEY}`,
        },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 202) {
            latencies.push(performance.now() - started);
            lastAcceptedAt = performance.now();
          } else errors += 1;
          resolve();
        });
      });
      req.on('error', () => {
        errors += 1;
        resolve();
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await one(next++);
    }),
  );
  agent.destroy();
  return { latencies, errors, lastAcceptedAt };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Polls the service's counts until `done` or the deadline (there is no event for "all processed"). */
async function waitFor(
  service: ServiceProcess,
  done: (c: Extract<BenchReply, { kind: 'counts' }>) => boolean,
  deadline: number,
): Promise<boolean> {
  while (performance.now() < deadline) {
    if (done(await service.counts())) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Answers every callback 200 with empty TwiML, as the service would, without doing anything. */
async function startSink(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end('<Response/>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A fresh database for one run: a SQLite file, or a new database on the PostgreSQL server named. */
async function createDatabase(
  postgresUrl: string | undefined,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!postgresUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
    return {
      url: `sqlite:${join(dir, 'bench.db')}`,
      drop: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    };
  }
  const name = `switchboard_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** Removes this run's BullMQ queues from Redis. */
async function deleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  try {
    for (let cursor = '0'; ;) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    await redis.quit();
  }
}

async function run(scenario: Scenario): Promise<Result> {
  const database = await createDatabase(scenario.env.DATABASE_URL);
  const emulator = countingEmulator();
  // Patient redeliveries: under overload the callbacks wait for the service instead of being dropped.
  const server = new EmulatorServer(emulator.definition, {
    onError: () => undefined,
    delivery: { retryScheduleMs: [1000, 2000, 5000, 10_000, 20_000], timeoutMs: 30_000 },
  });
  const twilioUrl = await server.start();
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const sink = scenario.callbacks === 'sink' ? await startSink() : undefined;
  const bullmqPrefix = `switchboard-bench-${randomBytes(4).toString('hex')}`;
  const finalStatus = sink ? 'sent' : 'delivered';
  const service = await ServiceProcess.start({
    // Production insists on an https:// public URL; loopback has no TLS, so the defaults of development.
    NODE_ENV: 'development',
    SANDBOX: 'false',
    LOG_LEVEL,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_BASE_URL: sink?.url ?? baseUrl,
    API_KEYS: `bench:${API_KEY}:sms`,

    RATE_LIMIT_PER_MINUTE: '100000000',
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_FROM_NUMBER: TWILIO_VALID_FROM,
    TWILIO_API_BASE_URL: twilioUrl,
    TWILIO_MAX_RPS: process.env.BENCH_TWILIO_MAX_RPS ?? '100000',
    BENCH_BULLMQ_PREFIX: bullmqPrefix,
    ...scenario.env,
    DATABASE_URL: database.url,
  });
  try {
    // Warm up (JIT, connections, SQLite pages), then let it all settle.
    const warm = await load(baseUrl, WARMUP, CONCURRENCY, 'warmup');
    if ((await withTimeout(emulator.when(WARMUP - warm.errors), TIMEOUT_MS)) === 'timeout') {
      throw new Error(
        `warm-up: ${emulator.created()} of ${WARMUP} sent; ${JSON.stringify(await service.counts())}`,
      );
    }
    await waitFor(
      service,
      (c) => (c.statuses.delivered ?? 0) >= WARMUP,
      performance.now() + TIMEOUT_MS,
    );
    await server.whenDeliveriesIdle();
    const before = emulator.created();
    const cpuBefore = (await service.counts()).cpuMicros;

    const t0 = performance.now();
    const delivered = emulator.when(before + MESSAGES).then(() => performance.now());
    const { latencies, errors, lastAcceptedAt } = await load(
      baseUrl,
      MESSAGES,
      CONCURRENCY,
      scenario.name,
    );
    const accepted = latencies.length;
    const deliveredAt = await withTimeout(delivered, TIMEOUT_MS);
    const settled = await waitFor(
      service,
      (c) => (c.statuses[finalStatus] ?? 0) >= WARMUP + accepted,
      performance.now() + TIMEOUT_MS,
    );
    const settledAt = performance.now();
    const sorted = [...latencies].sort((a, b) => a - b);
    const rate = (at: number) => Math.round((accepted / (at - t0)) * 1000);
    const counts = await service.counts();
    return {
      scenario: scenario.name,
      accepted,
      acceptedPerSec: rate(lastAcceptedAt),
      deliveredPerSec: deliveredAt === 'timeout' ? null : rate(deliveredAt),
      settledPerSec: settled ? rate(settledAt) : null,
      p50Ms: Math.round(percentile(sorted, 50) * 10) / 10,
      p99Ms: Math.round(percentile(sorted, 99) * 10) / 10,
      cpuPerMessageUs: settled ? Math.round((counts.cpuMicros - cpuBefore) / accepted) : null,
      errors,
      sentTwice: emulator.created() - before - accepted,
      note: settled ? undefined : `not settled: ${JSON.stringify(counts)}`,
    };
  } finally {
    await service.stop();
    await server.stop();
    await sink?.close();
    await database.drop();
    if (scenario.env.REDIS_URL) await deleteKeys(scenario.env.REDIS_URL, `${bullmqPrefix}:*`);
  }
}

async function main(): Promise<void> {
  const stores: { name: string; env: Record<string, string> }[] = [
    { name: 'local driver, SQLite', env: {} },
  ];
  if (REDIS_URL) stores.push({ name: 'BullMQ, SQLite', env: { REDIS_URL } });
  if (POSTGRES_URL) {
    stores.push({ name: 'local driver, PostgreSQL', env: { DATABASE_URL: POSTGRES_URL } });
    if (REDIS_URL) {
      stores.push({ name: 'BullMQ, PostgreSQL', env: { DATABASE_URL: POSTGRES_URL, REDIS_URL } });
    }
  }
  const modes = (process.env.BENCH_CALLBACKS ?? 'app,sink').split(',') as Scenario['callbacks'][];
  // BENCH_ONLY=PostgreSQL (say): just the scenarios whose name contains it.
  const only = process.env.BENCH_ONLY;
  const scenarios: Scenario[] = stores
    .flatMap((store) =>
      modes.map((callbacks) => ({
        name: `${store.name}, callbacks to ${callbacks === 'app' ? 'the service' : 'a stub'}`,
        env: store.env,
        callbacks,
      })),
    )
    .filter((scenario) => !only || scenario.name.includes(only));
  process.stdout.write(
    `SMS benchmark: ${MESSAGES} messages, ${CONCURRENCY} concurrent clients, warm-up ${WARMUP}, ` +
      `LOG_LEVEL=${LOG_LEVEL}, node ${process.version}, ${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ` +
      `load average ${loadavg()[0].toFixed(2)}\n`,
  );
  if (!REDIS_URL) process.stdout.write('BullMQ skipped: BENCH_REDIS_URL is not set\n');
  const baseline = await bareHttpBaseline();
  process.stdout.write(
    `baseline: bare node:http answers ${baseline} req/s to the same load generator\n`,
  );
  const results: Result[] = [];
  for (const scenario of scenarios) {
    const result = await run(scenario);
    results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  process.stdout.write(`load average at the end: ${loadavg()[0].toFixed(2)}\n`);
  const fmt = (n: number | null) => (n === null ? 'timeout' : String(n));
  process.stdout.write(
    '\n| scenario | accepted/s (POST /sms) | delivered/s (to emulator) | settled/s (final status stored) | POST p50 / p99 ms | service CPU per message (one-core capacity) | errors |\n|---|---|---|---|---|---|---|\n',
  );
  for (const r of results) {
    process.stdout.write(
      `| ${r.scenario} | ${r.acceptedPerSec} | ${fmt(r.deliveredPerSec)} | ${fmt(r.settledPerSec)} | ${r.p50Ms} / ${r.p99Ms} | ${
        r.cpuPerMessageUs === null
          ? '–'
          : `${r.cpuPerMessageUs} µs (${Math.round(1e6 / r.cpuPerMessageUs)}/s)`
      } | ${r.errors} |\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
