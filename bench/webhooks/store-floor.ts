/**
 * The floor of a durable store on this machine: what writing each webhook's
 * event row, and a processing job per batch, costs SQLite alone, with nothing around it
 * — no HTTP, no framework, no query builder, no ids or JSON to make. A child
 * process on the server's core, answering one `StoreFloor` over IPC.
 *
 * The application's own schema (its migrations), WAL and `synchronous=FULL`
 * as the service opens it; a prepared multi-row INSERT of `batch` events and
 * one of their job per transaction (the service's group commit writes the same
 * two statements per batch of up to 32), the same ≈ 2 KB events stored compact.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateToLatest, openDatabase } from '../../src/database/database.factory';
import { stripeEventBody } from './event';

export interface StoreFloor {
  events: number;
  batch: number;
  /** CPU time (user + system) per stored event, µs. */
  cpuUsPerEvent: number;
  /** Of which system time (the WAL's writes), µs. */
  systemUsPerEvent: number;
}

const EVENT_COLUMNS = [
  'id',
  'provider',
  'event_id',
  'type',
  'payload',
  'status',
  'attempts',
  'last_error',
  'received_at',
  'processed_at',
];
const JOB_COLUMNS = [
  'id',
  'type',
  'payload',
  'status',
  'attempts',
  'max_attempts',
  'last_error',
  'run_at',
  'locked_until',
  'created_at',
  'updated_at',
];

function multiRowInsert(table: string, columns: readonly string[], rows: number): string {
  const row = `(${columns.map(() => '?').join(', ')})`;
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(rows).fill(row).join(', ')}`;
}

export async function measureStoreFloor(events: number, batch: number): Promise<StoreFloor> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-store-floor-'));
  try {
    const file = join(dir, 'floor.db');
    const handle = openDatabase(`sqlite:${file}`);
    await migrateToLatest(handle.db);
    await handle.db.destroy();

    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const insertEvents = db.prepare(
      `${multiRowInsert('webhook_events', EVENT_COLUMNS, batch)} ON CONFLICT (provider, event_id) DO NOTHING RETURNING id`,
    );
    const insertJob = db.prepare(multiRowInsert('jobs', JOB_COLUMNS, 1));
    const begin = db.prepare('BEGIN');
    const commit = db.prepare('COMMIT');
    // Built before the clock starts, like the load generator's requests.
    const payloads = Array.from({ length: events }, (_, n) =>
      JSON.stringify(JSON.parse(stripeEventBody(n, 1_700_000_000))),
    );
    const pad = (n: number): string => String(n).padStart(22, '0');
    const now = new Date().toISOString();
    const stored = Math.floor(events / batch) * batch;

    const started = process.cpuUsage();
    for (let first = 0; first < stored; first += batch) {
      const eventValues: unknown[] = [];
      const ids: string[] = [];
      for (let n = first; n < first + batch; n++) {
        const id = `evt_${pad(n)}`;
        ids.push(id);
        eventValues.push(id, 'stripe', `evt_bench_${n}`, 'payment_intent.succeeded');
        eventValues.push(payloads[n], 'received', 0, null, now, null);
      }
      const job = JSON.stringify({ eventRowIds: ids });
      begin.run();
      insertEvents.all(eventValues);
      insertJob.run([
        `job_${pad(first)}`,
        'webhook.process',
        job,
        'queued',
        0,
        5,
        null,
        now,
        null,
        now,
        now,
      ]);
      commit.run();
    }
    const cpu = process.cpuUsage(started);
    db.close();
    return {
      events: stored,
      batch,
      cpuUsPerEvent: (cpu.user + cpu.system) / stored,
      systemUsPerEvent: cpu.system / stored,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [events, batch] = process.argv.slice(2).map(Number);
  measureStoreFloor(events || 20_000, batch || 30).then(
    (floor) => {
      process.send?.(floor);
      process.disconnect?.();
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
