/** Shared by the benchmarks: where a run's SQLite time goes, statement by statement. */

/** BENCH_SQL_STATS=1: time every SQLite statement by its SQL text, printed to stderr at stop. */
export function instrumentSqlite(): () => void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as {
    prototype: { prepare: (sql: string) => Record<string, unknown> };
  };
  const stats = new Map<string, { n: number; ms: number; maxMs: number }>();
  const original = Database.prototype.prepare;
  Database.prototype.prepare = function (this: unknown, sql: string) {
    const started = performance.now();
    const statement = original.call(this, sql);
    // Counted with the statement's first run only: the service reuses prepared statements.
    let prepareMs = performance.now() - started;
    for (const method of ['all', 'run', 'get', 'iterate']) {
      const fn = statement[method] as ((...args: unknown[]) => unknown) | undefined;
      if (typeof fn !== 'function') continue;
      statement[method] = (...args: unknown[]) => {
        const t = performance.now();
        try {
          return fn.apply(statement, args);
        } finally {
          const s = stats.get(sql) ?? { n: 0, ms: 0, maxMs: 0 };
          const ms = performance.now() - t + prepareMs;
          s.n += 1;
          s.ms += ms;
          s.maxMs = Math.max(s.maxMs, ms);
          prepareMs = 0;
          stats.set(sql, s);
        }
      };
    }
    return statement;
  };
  return () => {
    const rows = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
    for (const [sql, s] of rows) {
      process.stderr.write(
        `${s.ms.toFixed(0).padStart(7)} ms ${String(s.n).padStart(7)} × ${((s.ms / s.n) * 1000).toFixed(0).padStart(6)} µs ` +
          `(max ${s.maxMs.toFixed(1).padStart(6)} ms)  ${sql.slice(0, 140)}\n`,
      );
    }
  };
}
