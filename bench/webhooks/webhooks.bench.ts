/**
 * Stripe webhook ingest (issue 4, DESIGN.md "Performance budget"): accepted
 * webhooks per second — valid signature, distinct event ids, stored — of
 * Switchboard against a plain Fastify server that only verifies the signature.
 * Loopback only; the server under test on core 0 and the load generator on
 * core 1 (taskset, when present). Bounded by a request count and a time limit
 * per run. Targets alternate, round after round, and the medians are compared.
 *
 *   node bench/webhooks/run.js [--requests 20000] [--warmup 3000] [--connections 32]
 *     [--rounds 3] [--max-seconds 60] [--profile <dir>]
 *     [--targets plain,nest,nest-context,app,ingest]
 *
 * BENCH_DATABASE_URL=postgres://… runs the application on PostgreSQL (default:
 * a temporary SQLite file, the embedded default).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadReply, LoadRequest, LoadResult } from './load';
import { BENCH_SECRET, type ServerReply, type ServerStats, type Target } from './server';
import type { StoreFloor } from './store-floor';

const TARGET_RATIO = 0.7;
/** What each target is, as the results table names it. */
const TARGET_NAMES: Record<Target, string> = {
  plain: 'plain Fastify + verify',
  nest: 'bare Nest + Fastify, verifying guard (nothing stored or logged)',
  'nest-context': 'the same + a per-request AsyncLocalStorage context',
  app: 'Switchboard: verify + store + 200, processing on the same core',
  ingest: 'Switchboard, ingest only (processing paused): the target of DESIGN.md',
};
/** Targets that store what they accept (their stored count is checked). */
const stores = (target: Target): boolean => target === 'app' || target === 'ingest';
const TARGETS: readonly Target[] = ['plain', 'nest', 'nest-context', 'app', 'ingest'];

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '3000' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    'max-seconds': { type: 'string', default: '60' },
    /** Writes a V8 CPU profile of each server run to this folder (node --cpu-prof). */
    profile: { type: 'string' },
    /** A subset of the targets, comma-separated (e.g. `ingest` while profiling). */
    targets: { type: 'string', default: TARGETS.join(',') },
  },
});
const targets = values.targets.split(',').map((t) => t.trim()) as Target[];
for (const t of targets)
  if (!TARGETS.includes(t)) throw new Error(`unknown target ${t}: one of ${TARGETS.join(', ')}`);
const opts = {
  requests: Math.min(Number(values.requests), 200_000),
  warmup: Math.min(Number(values.warmup), 50_000),
  connections: Math.min(Number(values.connections), 256),
  rounds: Math.min(Number(values.rounds), 10),
  maxSeconds: Math.min(Number(values['max-seconds']), 300),
  profile: values.profile ? resolve(values.profile) : undefined,
};

const hasTaskset = ((): boolean => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** A compiled sibling script as a child with IPC, pinned to `core` when taskset exists. */
function spawnPinned(
  script: string,
  args: string[],
  core: number,
  nodeFlags: string[] = [],
): ChildProcess {
  const pin = hasTaskset ? ['-c', String(core % os.availableParallelism()), process.execPath] : [];
  // fork() runs `execPath ...execArgv script ...args`; taskset then execs node on that core.
  return fork(join(__dirname, script), args, {
    execPath: hasTaskset ? 'taskset' : process.execPath,
    execArgv: [...pin, ...nodeFlags],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T>(child: ChildProcess, accept: (m: T) => boolean): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (message: T): void => {
      if (!accept(message)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolvePromise(message);
    };
    const onExit = (code: number | null): void =>
      reject(new Error(`child exited (${code}) before answering`));
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

let seq = 0;
async function ask(
  server: ChildProcess,
  type: 'stats' | 'drain' | 'pause' | 'stop',
): Promise<ServerReply> {
  const id = ++seq;
  server.send({ id, type });
  const reply = await nextMessage<ServerReply>(server, (m) => 'id' in m && m.id === id);
  if ('error' in reply && reply.error) throw new Error(reply.error);
  return reply;
}

async function statsOf(server: ChildProcess): Promise<ServerStats> {
  const reply = await ask(server, 'stats');
  if (!('stats' in reply) || !reply.stats) throw new Error('no stats');
  return reply.stats;
}

async function drain(server: ChildProcess): Promise<number> {
  const reply = await ask(server, 'drain');
  return 'ms' in reply ? (reply.ms ?? 0) : 0;
}

/** The store floor, measured in a child on the server's core (see store-floor.ts). */
async function storeFloor(): Promise<StoreFloor> {
  const child = spawnPinned('store-floor.js', [String(opts.requests), '30'], 0);
  return nextMessage<StoreFloor>(child, () => true);
}

async function load(port: number, first: number, count: number): Promise<LoadResult> {
  const loader = spawnPinned('load.js', [], 1);
  const request: LoadRequest = {
    host: '127.0.0.1',
    port,
    secret: BENCH_SECRET,
    first,
    count,
    connections: opts.connections,
    maxSeconds: opts.maxSeconds,
    extraHeaders: 'X-Forwarded-Proto: https\r\n',
  };
  loader.send(request);
  const reply = await nextMessage<LoadReply>(loader, () => true);
  if (reply.type === 'error') throw new Error(reply.error);
  return reply.result;
}

interface Run extends LoadResult {
  target: Target;
  round: number;
  /** Server CPU time per accepted webhook, from the start of the load until its events are processed. */
  cpuUsPerRequest: number;
  idleRss: number;
  maxRss: number;
  stored: number | null;
  expectedStored: number | null;
  backlogAtEnd: number | null;
  drainMs: number;
  loadAverage: number;
}

async function measure(target: Target, round: number): Promise<Run> {
  const flags = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`] : [];
  const server = spawnPinned('server.js', [target === 'ingest' ? 'app' : target], 0, flags);
  const ready = await nextMessage<ServerReply>(server, (m) => 'type' in m && m.type === 'ready');
  if (!('type' in ready)) throw new Error('unexpected reply');
  try {
    // Distinct event ids across rounds and targets.
    const base = round * 1_000_000 + TARGETS.indexOf(target) * 150_000;
    await load(ready.port, base, opts.warmup);
    await drain(server);
    if (target === 'ingest') await ask(server, 'pause');
    const before = await statsOf(server);
    const loadAverage = os.loadavg()[0];
    const result = await load(ready.port, base + opts.warmup, opts.requests);
    const after = await statsOf(server);
    const drainMs = await drain(server);
    const drained = await statsOf(server);
    return {
      target,
      round,
      ...result,
      cpuUsPerRequest: (drained.cpuUs - before.cpuUs) / result.accepted,
      idleRss: ready.stats.rss,
      maxRss: drained.maxRss,
      stored: drained.stored,
      expectedStored: stores(target) ? opts.warmup + result.accepted : null,
      backlogAtEnd: after.pending,
      drainMs,
      loadAverage,
    };
  } finally {
    await ask(server, 'stop').catch(() => undefined);
  }
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  process.stdout.write(
    `Stripe webhook ingest: ${opts.rounds} rounds × ${opts.requests} requests (+${opts.warmup} warm-up), ` +
      `${opts.connections} connections, ~2 KB events; server on core 0, load on core 1 ` +
      `(${hasTaskset ? 'taskset' : 'not pinned: no taskset'}); node ${process.version}, ` +
      `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'cpu'}\n\n`,
  );
  const runs: Run[] = [];
  const floors: StoreFloor[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const floor = await storeFloor();
    floors.push(floor);
    process.stdout.write(
      `round ${round + 1} store floor: ${floor.cpuUsPerEvent.toFixed(1)} µs of CPU per event (and a job per batch) ` +
        `(${floor.systemUsPerEvent.toFixed(1)} µs system), batches of ${floor.batch}\n`,
    );
    for (const target of targets) {
      const r = await measure(target, round);
      runs.push(r);
      const name = target.padEnd(12);
      const failed =
        Object.keys(r.failed).length > 0 ? ` non-200: ${JSON.stringify(r.failed)}` : '';
      const stored =
        r.target === 'app'
          ? ` stored ${r.stored}/${r.expectedStored}, backlog ${r.backlogAtEnd} drained in ${r.drainMs} ms`
          : r.target === 'ingest'
            ? ` stored ${r.stored}/${r.expectedStored}, ${r.backlogAtEnd} left unprocessed`
            : '';
      process.stdout.write(
        `round ${round + 1} ${name} ${r.perSecond.toFixed(0).padStart(6)}/s  ` +
          `p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms  ` +
          `CPU ${r.cpuUsPerRequest.toFixed(0)} µs/webhook  RSS idle ${mb(r.idleRss)} MB peak ${mb(r.maxRss)} MB  ` +
          `load avg ${r.loadAverage.toFixed(2)}${stored}${failed}\n`,
      );
      if (stores(r.target) && r.stored !== r.expectedStored)
        throw new Error(`stored ${r.stored} events, expected ${r.expectedStored}`);
    }
  }
  const summary = (target: Target) => {
    const rs = runs.filter((r) => r.target === target);
    return {
      perSecond: median(rs.map((r) => r.perSecond)),
      p99: median(rs.map((r) => r.latencyMs.p99)),
      cpuUs: median(rs.map((r) => r.cpuUsPerRequest)),
      idleRss: median(rs.map((r) => r.idleRss)),
      maxRss: Math.max(...rs.map((r) => r.maxRss)),
    };
  };
  if (!targets.includes('plain')) return; // ratios are against the plain server
  const plain = summary('plain');
  const verdict = (r: number): string => (r >= TARGET_RATIO ? 'met' : 'MISSED');
  let table =
    '\n| server | accepted/s (median) | ratio | p99 latency (median) | server CPU per webhook (one-core capacity) | ratio by CPU | RSS idle | RSS peak |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|\n';
  for (const target of targets) {
    const s = summary(target);
    table +=
      `| ${TARGET_NAMES[target]} | ${s.perSecond.toFixed(0)} | ${(s.perSecond / plain.perSecond).toFixed(2)}× | ` +
      `${s.p99.toFixed(2)} ms | ${s.cpuUs.toFixed(0)} µs (${(1e6 / s.cpuUs).toFixed(0)}/s) | ` +
      `${(plain.cpuUs / s.cpuUs).toFixed(2)}× | ${mb(s.idleRss)} MB | ${mb(s.maxRss)} MB |\n`;
  }
  process.stdout.write(table);
  const floorUs = median(floors.map((f) => f.cpuUsPerEvent));
  process.stdout.write(
    `\nstore floor (SQLite alone writing each event and a job per batch of 30, no HTTP): ` +
      `${floorUs.toFixed(1)} µs per webhook = ${((floorUs / plain.cpuUs) * 100).toFixed(0)} % of the plain server's CPU per webhook`,
  );
  if (targets.includes('nest-context')) {
    const frame = summary('nest-context').cpuUs;
    process.stdout.write(
      `\nceiling of a durable store in this framework: plain ÷ (Nest + context + floor) = ` +
        `${(plain.cpuUs / (frame + floorUs)).toFixed(2)}× by CPU`,
    );
  }
  // Targets of one round run back to back, so their ratio is less exposed to other load on the
  // machine drifting over the whole run than the ratio of medians taken across rounds.
  const perRound = (target: Target, metric: (r: Run, plain: Run) => number): number =>
    median(
      runs
        .filter((r) => r.target === target)
        .map((r) => {
          const base = runs.find((p) => p.target === 'plain' && p.round === r.round);
          return base ? metric(r, base) : NaN;
        }),
    );
  for (const target of ['ingest', 'app'] as const) {
    if (!targets.includes(target)) continue;
    const s = summary(target);
    const ratio = s.perSecond / plain.perSecond;
    const cpuRatio = plain.cpuUs / s.cpuUs;
    const roundRatio = perRound(target, (r, p) => r.perSecond / p.perSecond);
    const roundCpuRatio = perRound(target, (r, p) => p.cpuUsPerRequest / r.cpuUsPerRequest);
    process.stdout.write(
      `\n${TARGET_NAMES[target]}: ${ratio.toFixed(2)}× measured, ${cpuRatio.toFixed(2)}× by CPU ` +
        `(target ≥ ${TARGET_RATIO}×: ${verdict(ratio)} / ${verdict(cpuRatio)}); ` +
        `median of the rounds' own ratios ${roundRatio.toFixed(2)}× measured, ${roundCpuRatio.toFixed(2)}× by CPU`,
    );
  }
  process.stdout.write('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
