import { WriteBatcher } from './write-batcher';

/** Resolves after the turn of the event loop in which the batcher writes. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe(WriteBatcher.name, () => {
  it('writes what is added in one turn as one batch, and answers each caller its own result', async () => {
    const batches: number[][] = [];
    const sut = new WriteBatcher<number, number>((items) => {
      batches.push([...items]);
      return Promise.resolve(items.map((n) => n * 10));
    });

    const results = await Promise.all([1, 2, 3].map((n) => sut.add(n)));

    expect(batches).toEqual([[1, 2, 3]]);
    expect(results).toEqual([10, 20, 30]);
  });

  it('puts what arrives during a write into the next batch, none larger than maxBatch', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const firstWrite = new Promise<void>((resolve) => (release = resolve));
    const sut = new WriteBatcher<string, string>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await firstWrite;
      return items.map((s) => s.toUpperCase());
    }, 2);

    const first = sut.add('a');
    await nextTurn(); // the write of ['a'] has started and waits
    const later = ['b', 'c', 'd'].map((s) => sut.add(s));
    await nextTurn();
    expect(batches).toEqual([['a']]);

    release();
    expect(await Promise.all([first, ...later])).toEqual(['A', 'B', 'C', 'D']);
    expect(batches).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('retries a failed batch item by item, so only the bad item fails its caller', async () => {
    const calls: string[][] = [];
    const sut = new WriteBatcher<string, string>((items) => {
      calls.push([...items]);
      if (items.includes('bad')) return Promise.reject(new Error('constraint failed'));
      return Promise.resolve(items.map((s) => `${s}!`));
    });

    const outcomes = await Promise.allSettled(['x', 'bad', 'y'].map((s) => sut.add(s)));

    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 'x!' },
      { status: 'rejected', reason: new Error('constraint failed') },
      { status: 'fulfilled', value: 'y!' },
    ]);
    expect(calls).toEqual([['x', 'bad', 'y'], ['x'], ['bad'], ['y']]);
  });

  it('rejects the whole batch at once when the database cannot be reached', async () => {
    let down = true;
    const calls: number[] = [];
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    const sut = new WriteBatcher<number, number>((items) => {
      calls.push(items.length);
      return down ? Promise.reject(outage) : Promise.resolve([...items]);
    });

    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, n) => sut.add(n)));

    expect(outcomes.every((o) => o.status === 'rejected' && o.reason === outage)).toBe(true);
    expect(calls).toEqual([20]);
    down = false;
    await expect(sut.add(7)).resolves.toBe(7);
  });

  it('rejects a lone failing item with its error, and keeps working afterwards', async () => {
    let fail = true;
    const sut = new WriteBatcher<number, number>((items) =>
      fail ? Promise.reject(new Error('database is down')) : Promise.resolve([...items]),
    );

    await expect(sut.add(1)).rejects.toThrow('database is down');
    fail = false;
    await expect(sut.add(2)).resolves.toBe(2);
  });

  it('treats a write that answers the wrong number of results as failed, item by item', async () => {
    const sut = new WriteBatcher<number, number>((items) =>
      Promise.resolve(items.length > 1 ? [0] : [items[0] + 1]),
    );

    expect(await Promise.all([1, 2].map((n) => sut.add(n)))).toEqual([2, 3]);
  });

  it('refuses a batch size that is not a positive integer', () => {
    expect(() => new WriteBatcher(() => Promise.resolve([]), 0)).toThrow(
      'maxBatch must be a positive integer',
    );
  });
});
