import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { JobQueueOptions } from '../../src/jobs/job-queue.options';
import { pollUntil } from './poll';

const ROOT = join(__dirname, '..', '..');
/** The compiled entry point, as `npm start` runs it. */
export const MAIN_JS = join(ROOT, 'dist', 'main.js');

function newestSource(dir: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const found = entry.isDirectory()
      ? newestSource(path)
      : entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')
        ? { path, mtimeMs: statSync(path).mtimeMs }
        : undefined;
    if (found && (!newest || found.mtimeMs > newest.mtimeMs)) newest = found;
  }
  return newest;
}

/**
 * Suites that run `dist/main.js` test the build, not the sources: this names
 * what to do when the build is missing or older than a source file, instead of
 * letting them pass or fail against yesterday's code.
 */
export function staleBuildProblem(): string | undefined {
  if (!existsSync(MAIN_JS)) return 'dist/main.js does not exist: run `npm run build` first';
  const newest = newestSource(join(ROOT, 'src'));
  if (newest && newest.mtimeMs > statSync(MAIN_JS).mtimeMs)
    return `dist/ is older than ${relative(ROOT, newest.path)}: run \`npm run build\` first`;
  return undefined;
}

export interface AppProcessOptions {
  /** Names the process in error messages, e.g. `A`. */
  name: string;
  /** The service's whole environment (CONTRACT §1): nothing is inherited but PATH, and HOST is 127.0.0.1 unless given. */
  env: Record<string, string>;
  port: number;
  /**
   * Job-driver tuning, as in-process suites give it with `JobQueueOptionsModule`.
   * These are not environment variables (job-queue.options.ts), so they reach
   * the process through a preloaded script that sets the build's defaults
   * before `main.js` runs; everything else is the production entry point.
   */
  jobQueueOptions?: Partial<JobQueueOptions>;
}

/** Writes the script that sets `DEFAULT_JOB_QUEUE_OPTIONS` of the build; fails loudly if the build no longer has it. */
function jobOptionsPreload(options: Partial<JobQueueOptions>): string {
  const path = join(tmpdir(), `switchboard-job-options-${randomBytes(6).toString('hex')}.js`);
  const module = join(ROOT, 'dist', 'jobs', 'job-queue.options.js');
  writeFileSync(
    path,
    [
      `const { DEFAULT_JOB_QUEUE_OPTIONS: defaults } = require(${JSON.stringify(module)});`,
      `if (typeof defaults !== 'object') throw new Error('the build has no DEFAULT_JOB_QUEUE_OPTIONS to tune');`,
      `Object.assign(defaults, ${JSON.stringify(options)});`,
      '',
    ].join('\n'),
  );
  return path;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One `node dist/main.js` process: started with a given environment, ready
 * once `/health/ready` answers 200, its output kept (stdout lines are the
 * structured log), and stopped by a signal.
 */
export class AppProcess {
  readonly url: string;
  readonly exited: Promise<ProcessExit>;
  private readonly stdout: string[] = [];
  private readonly stderr: string[] = [];
  private partial = '';
  private exit?: ProcessExit;

  private constructor(
    readonly options: AppProcessOptions,
    private readonly child: ChildProcess,
  ) {
    this.url = `http://127.0.0.1:${options.port}`;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => void this.stderr.push(chunk));
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has all of its output been read.
      child.once('close', (code, signal) => {
        if (this.partial !== '') this.stdout.push(this.partial);
        this.partial = '';
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  /** Starts the process and resolves once it is ready; rejects with its output if it exits or never gets ready. */
  static async start(options: AppProcessOptions, readyWithinMs = 30_000): Promise<AppProcess> {
    const preload = options.jobQueueOptions && jobOptionsPreload(options.jobQueueOptions);
    const child = spawn(process.execPath, [...(preload ? ['--require', preload] : []), MAIN_JS], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOST: '127.0.0.1',
        ...options.env,
        PORT: String(options.port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new AppProcess(options, child);
    try {
      await app.waitUntilReady(readyWithinMs);
    } catch (err) {
      await app.kill('SIGKILL');
      throw err;
    } finally {
      // Read once at start-up.
      if (preload) rmSync(preload, { force: true });
    }
    return app;
  }

  get isRunning(): boolean {
    return this.exit === undefined;
  }

  /** The structured log lines written so far (other stdout lines are skipped). */
  logLines(): Record<string, unknown>[] {
    const lines: Record<string, unknown>[] = [];
    for (const line of this.stdout) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut short by SIGKILL: not a log line anyone can read either.
        continue;
      }
    }
    return lines;
  }

  /** Log lines whose `msg` is `message`. */
  logged(message: string): Record<string, unknown>[] {
    return this.logLines().filter((l) => l.msg === message);
  }

  /** The last lines of output, for a failure message. */
  tail(lines = 40): string {
    return [...this.stdout, ...this.stderr.join('').split('\n')].slice(-lines).join('\n');
  }

  /** Sends `signal` and resolves when the process has exited. */
  async kill(signal: NodeJS.Signals): Promise<ProcessExit> {
    if (this.exit) return this.exit;
    this.child.kill(signal);
    return this.exited;
  }

  private async waitUntilReady(withinMs: number): Promise<void> {
    await pollUntil(
      async () => {
        if (this.exit) {
          throw new Error(
            `instance ${this.options.name} exited (${this.exit.signal ?? this.exit.code}) before it was ready:\n${this.tail()}`,
          );
        }
        try {
          const res = await fetch(`${this.url}/health/ready`);
          return res.status === 200;
        } catch {
          return false; // not listening yet
        }
      },
      {
        timeoutMs: withinMs,
        what: () => `instance ${this.options.name} to be ready:\n${this.tail()}`,
      },
    );
  }

  private onStdout(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    this.stdout.push(...parts);
  }
}
