/**
 * At most `size` tasks run at once; the others wait their turn, first come
 * first served. For work that arrives in uneven groups (the events of a
 * batch job) but should share one bound.
 */
export class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error('a semaphore needs a positive integer size');
    this.free = size;
  }

  /** Tasks running now. */
  get running(): number {
    return this.size - this.free;
  }

  /** Tasks waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a turn is free; settles as it does. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The turn passes straight to the next in line, so none can jump the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}
