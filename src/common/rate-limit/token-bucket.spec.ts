import fc from 'fast-check';
import { Clock } from '../clock';
import { InMemoryRateLimiter } from './in-memory-rate-limiter';
import { Sleeper } from './rate-limiter';
import { reserveToken } from './token-bucket';

/** A clock that only moves when someone sleeps. */
class FakeTime extends Sleeper {
  t = 1_700_000_000_000;
  readonly waits: number[] = [];
  readonly clock: Clock = { now: () => new Date(this.t) };

  override sleep(ms: number): Promise<void> {
    this.waits.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

describe('reserveToken', () => {
  it('lets the first call go and spaces the next ones by 1/rate', () => {
    const rate = { perSecond: 10, burst: 1 };
    let tat: number | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = reserveToken(tat, 0, rate);
      tat = r.tat;
      waits.push(r.waitMs);
    }
    expect(waits).toEqual([0, 100, 200, 300]);
  });

  it('allows `burst` calls at once after a quiet spell, then the rate', () => {
    const rate = { perSecond: 4, burst: 3 };
    let tat: number | undefined;
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = reserveToken(tat, 10_000, rate);
      tat = r.tat;
      waits.push(r.waitMs);
    }
    expect(waits).toEqual([0, 0, 0, 250, 500]);
  });

  it('refills while idle but never beyond the burst', () => {
    const rate = { perSecond: 10, burst: 2 };
    const first = reserveToken(undefined, 0, rate);
    const afterLongIdle = reserveToken(first.tat, 60_000, rate);
    expect(afterLongIdle.waitMs).toBe(0);
    const second = reserveToken(afterLongIdle.tat, 60_000, rate);
    const third = reserveToken(second.tat, 60_000, rate);
    expect([second.waitMs, third.waitMs]).toEqual([0, 100]);
  });

  it('never lets more than perSecond calls start in any one-second window (burst 1)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 200 }),
        (rps, gaps) => {
          let now = 0;
          let tat: number | undefined;
          const starts: number[] = [];
          for (const gap of gaps) {
            now += gap;
            const r = reserveToken(tat, now, { perSecond: rps, burst: 1 });
            tat = r.tat;
            starts.push(now + r.waitMs);
          }
          starts.sort((a, b) => a - b);
          for (let i = 0; i + rps < starts.length; i++)
            expect(starts[i + rps] - starts[i]).toBeGreaterThanOrEqual(1000 - 1e-6);
        },
      ),
    );
  });
});

describe(InMemoryRateLimiter.name, () => {
  it('holds callers back instead of failing them, per provider', async () => {
    const time = new FakeTime();
    const sut = new InMemoryRateLimiter(
      {
        stripe: { perSecond: 25, burst: 1 },
        twilio: { perSecond: 10, burst: 1 },
        sendgrid: { perSecond: 10, burst: 1 },
      },
      time.clock,
      time,
    );
    const start = time.t;
    for (let i = 0; i < 11; i++) await sut.acquire('twilio');
    expect(time.t - start).toBe(1000);
    await sut.acquire('stripe');
    expect(time.waits[time.waits.length - 1]).toBe(0);
  });

  it('gives concurrent callers successive slots', async () => {
    const time = new FakeTime();
    const waits: number[] = [];
    const sleeper = { sleep: (ms: number) => (waits.push(ms), Promise.resolve()) };
    const sut = new InMemoryRateLimiter(
      {
        stripe: { perSecond: 5, burst: 1 },
        twilio: { perSecond: 5, burst: 1 },
        sendgrid: { perSecond: 5, burst: 1 },
      },
      time.clock,
      sleeper,
    );
    await Promise.all([1, 2, 3, 4].map(() => sut.acquire('sendgrid')));
    expect(waits).toEqual([0, 200, 400, 600]);
  });

  it('refuses a non-positive rate at construction', () => {
    const time = new FakeTime();
    expect(
      () =>
        new InMemoryRateLimiter(
          {
            stripe: { perSecond: 0, burst: 1 },
            twilio: { perSecond: 1, burst: 1 },
            sendgrid: { perSecond: 1, burst: 1 },
          },
          time.clock,
          time,
        ),
    ).toThrow(/stripe/);
  });
});
