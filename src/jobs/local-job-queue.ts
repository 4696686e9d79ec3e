import { DispatchRow, JobQueueDriver } from './job-queue.driver';

/**
 * The embedded driver: jobs are rows in the database, claimed by a runner in
 * this process. It wakes up when this process enqueues (or a slot frees), and
 * polls for jobs made due by time or enqueued by another instance. Claims are
 * atomic (see {@link JobsRepository.claimDue}), so several instances may share
 * one PostgreSQL database.
 */
export class LocalJobQueue extends JobQueueDriver {
  readonly driverName = 'local';
  private poller?: NodeJS.Timeout;
  /** Passes run one at a time so per-type capacity is computed against settled counts. */
  private tail: Promise<unknown> = Promise.resolve();
  private pendingPass?: Promise<number>;
  /** What the next pass looks at: the types woken for, or all of them (poll, whenIdle). */
  private wantAll = false;
  private readonly wanted = new Set<string>();
  /**
   * Types whose last claim found less than it had room for: nothing more was
   * due then, so a finishing job need not look again. Whatever makes a job
   * due (an enqueue, a retry's timer, the poll) wakes the type regardless.
   */
  private readonly drained = new Set<string>();
  /**
   * Jobs this process has just committed and that are due, by type: claimed by
   * id when their type has room and no backlog (see {@link claimAndRun}).
   */
  private readonly fresh = new Map<string, string[]>();

  async whenIdle(): Promise<void> {
    for (;;) {
      if (!this.started || this.stopping) {
        // Nothing will be claimed here any more: only what already runs can still finish.
        await this.executor.whenSettled();
        return;
      }
      this.wantAll = true;
      const claimed = await this.schedulePass();
      if (claimed === 0 && this.executor.runningCount() === 0) {
        // A pass that read the table just before an attempt recorded its retry
        // claims nothing; idle only when the table agrees nothing is due.
        const types = this.executor.registrations().map((r) => r.type);
        const due = await this.repo.countClaimable(types, this.clock.now());
        if (due === 0 && this.executor.runningCount() === 0) return;
      }
      await this.executor.whenSettled();
    }
  }

  async ping(): Promise<void> {
    this.assertRunning();
    await this.repo.ping();
  }

  protected dispatch(rows: readonly DispatchRow[]): Promise<void> {
    const now = this.clock.now().getTime();
    for (const row of rows) {
      const wait = Date.parse(row.run_at) - now;
      // A later job is picked up by the poller, or sooner by a timer of ours when it is due before the next poll.
      if (wait > 0 && wait < this.options.pollIntervalMs)
        this.setTimer(() => this.wake(row.type), wait);
      else {
        if (wait <= 0 && this.started && !this.stopping) {
          const ids = this.fresh.get(row.type) ?? [];
          ids.push(row.id);
          this.fresh.set(row.type, ids);
        }
        this.wake(row.type);
      }
    }
    return Promise.resolve();
  }

  protected onRegistered(type: string): void {
    this.wake(type);
  }

  protected startDriver(): Promise<void> {
    this.poller = setInterval(() => this.wake(), this.options.pollIntervalMs);
    this.poller.unref();
    this.wake();
    return Promise.resolve();
  }

  protected async stopDriver(): Promise<void> {
    clearInterval(this.poller);
    await this.tail;
    await this.drainRunning();
  }

  private wake(type?: string): void {
    if (!this.started || this.stopping) return;
    if (type === undefined) this.wantAll = true;
    else this.wanted.add(type);
    void this.schedulePass();
  }

  /** The next pass to start (not one already running, which may have read the table before the change we wake for). */
  private schedulePass(): Promise<number> {
    if (this.pendingPass) return this.pendingPass;
    const pass = this.tail.then(() => {
      this.pendingPass = undefined;
      const all = this.wantAll;
      const types = new Set(this.wanted);
      this.wantAll = false;
      this.wanted.clear();
      return this.claimAndRun(all ? undefined : types);
    });
    this.pendingPass = pass;
    this.tail = pass;
    return pass;
  }

  /** Claims what each type (of `only`, else all) has room for and starts it; never rejects. */
  private async claimAndRun(only?: ReadonlySet<string>): Promise<number> {
    if (!this.started || this.stopping) return 0;
    let claimed = 0;
    for (const { type, concurrency } of this.executor.registrations()) {
      if (only && !only.has(type)) continue;
      const fresh = this.fresh.get(type) ?? [];
      this.fresh.delete(type);
      const room = concurrency - this.executor.runningCount(type);
      if (room <= 0) {
        // Fresh jobs stay in the table: a finishing job of the type must look again.
        if (fresh.length > 0) this.drained.delete(type);
        continue;
      }
      const now = this.clock.now();
      try {
        let rows;
        if (fresh.length > 0 && this.drained.has(type)) {
          // Nothing older was due at the last claim, so the jobs just committed here are
          // next: claimed by id, without reading the claim index. Those beyond the room
          // stay queued, and the type is no longer known to be drained.
          rows = await this.repo.claimIds(
            type,
            fresh.slice(0, room),
            now,
            this.executor.leaseUntil(now),
          );
          if (fresh.length > room) this.drained.delete(type);
        } else {
          rows = await this.repo.claimDue(type, room, now, this.executor.leaseUntil(now));
          if (rows.length < room) this.drained.add(type);
          else this.drained.delete(type);
        }
        for (const row of rows) {
          this.track(
            this.executor.run(row).then(async (outcome) => {
              // The slot is free for the next job of the type; a retry also gets its own timer.
              if (!this.drained.has(type)) this.wake(type);
              if (outcome.kind === 'retry') await this.dispatch([outcome.row]);
            }),
          );
        }
        claimed += rows.length;
      } catch (err) {
        this.drained.delete(type);
        this.logger.warn(
          {
            jobType: type,
            err: err instanceof Error ? { type: err.name, message: err.message } : String(err),
          },
          'could not claim jobs',
        );
      }
    }
    return claimed;
  }
}
