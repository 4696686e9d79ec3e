import { unavailableService } from '../common/errors/unavailable';

/**
 * Group commit for small, independent writes: the items added during one turn
 * of the event loop are written together when it ends (`setImmediate`), and
 * items added while a batch is being written go in the next one. Each
 * caller's promise settles only once the write of its batch has finished.
 *
 * A commit is most of what a one-row write costs (SQLite writes every page the
 * transaction touched to the WAL; PostgreSQL flushes its log), so writing a
 * few dozen rows per commit instead of one is what lets a busy instance keep
 * up. better-sqlite3 runs a whole transaction within one turn, so on SQLite
 * only the end-of-turn deferral groups anything.
 *
 * If a batch of several items fails, each item is written on its own, so one
 * bad item fails only its own caller; unless the database could not be
 * reached at all, which no item is to blame for: then every caller of the
 * batch gets that error at once, instead of after one more failed write each
 * (with a 5 s connect timeout, minutes for the last of a large batch).
 */
export class WriteBatcher<T, R> {
  private readonly waiting: { item: T; resolve(result: R): void; reject(err: unknown): void }[] =
    [];
  private writing = false;
  private scheduled = false;

  /**
   * @param write writes the items (in one transaction or one statement) and
   *   returns one result per item, in order
   * @param maxBatch the most items in one write
   */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<readonly R[]>,
    private readonly maxBatch = 64,
  ) {
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new Error('maxBatch must be a positive integer');
  }

  /** Resolves with the item's result once its batch is written. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.writing || this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.writing) void this.drain();
      });
    });
  }

  /** Writes batches until nothing waits; never rejects (each caller gets its own outcome). */
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.maxBatch);
        try {
          const results = await this.write(batch.map((w) => w.item));
          if (results.length !== batch.length)
            throw new Error(`a batch of ${batch.length} got ${results.length} results`);
          batch.forEach((w, i) => w.resolve(results[i]));
        } catch (err) {
          if (batch.length === 1 || unavailableService(err) !== undefined)
            for (const w of batch) w.reject(err);
          else for (const w of batch) await this.writeAlone(w);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeAlone(w: (typeof this.waiting)[number]): Promise<void> {
    try {
      const [result] = await this.write([w.item]);
      w.resolve(result);
    } catch (err) {
      w.reject(err);
    }
  }
}
