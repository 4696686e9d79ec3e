import { Semaphore } from './semaphore';

/** A task that runs until `finish()` is called. */
function gated(log: string[], name: string) {
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => (finish = resolve));
  const task = async (): Promise<string> => {
    log.push(`start ${name}`);
    await gate;
    log.push(`end ${name}`);
    return name;
  };
  return { task, finish };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe(Semaphore.name, () => {
  it('runs at most `size` tasks at once and starts the others in arrival order', async () => {
    const log: string[] = [];
    const semaphore = new Semaphore(2);
    const tasks = ['a', 'b', 'c', 'd'].map((name) => gated(log, name));
    const results = tasks.map((t) => semaphore.run(t.task));
    await settle();
    expect(log).toEqual(['start a', 'start b']);
    expect([semaphore.running, semaphore.queued]).toEqual([2, 2]);

    tasks[1].finish();
    await settle();
    expect(log).toEqual(['start a', 'start b', 'end b', 'start c']);

    tasks[0].finish();
    tasks[2].finish();
    tasks[3].finish();
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd']);
    expect(log.filter((l) => l.startsWith('start'))).toEqual([
      'start a',
      'start b',
      'start c',
      'start d',
    ]);
    expect([semaphore.running, semaphore.queued]).toEqual([0, 0]);
  });

  it('frees the turn of a task that fails, and passes its failure on', async () => {
    const semaphore = new Semaphore(1);
    const failing = semaphore.run(() => Promise.reject(new Error('boom')));
    const next = semaphore.run(() => Promise.resolve('next'));
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
    expect(semaphore.running).toBe(0);
  });

  it('refuses a size that is not a positive integer', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new Semaphore(size)).toThrow();
  });
});
