import {
  DEFAULT_LATENCY_MS,
  FaultOptionsError,
  FaultPlan,
  parseFaultOptions,
  parseFaults,
} from './faults';

describe(FaultPlan.name, () => {
  it('consumes the queue first, then draws the rates once per request, stacked in order', () => {
    const draws = [0.05, 0.15, 0.25, 0.35, 0.45, 0.95];
    const sut = new FaultPlan(() => draws.shift() ?? 1);
    sut.set({
      rateLimitRate: 0.1,
      serverErrorRate: 0.1,
      unavailableRate: 0.1,
      resetRate: 0.1,
      hangRate: 0.1,
      queue: [{ kind: 'latency', ms: 5 }],
    });

    const kinds = Array.from({ length: 7 }, () => sut.decide('/x').fault?.kind);

    expect(kinds).toEqual([
      'latency',
      'rate_limit',
      'server_error',
      'unavailable',
      'reset',
      'hang',
      undefined,
    ]);
  });

  it('does not draw at all when no rate is set', () => {
    const random = jest.fn(() => 0);
    const sut = new FaultPlan(random);
    sut.set({ latencyMs: 10 });

    expect(sut.decide('/x')).toEqual({ fault: undefined, delayMs: 10 });
    expect(random).not.toHaveBeenCalled();
  });

  it('adds the latency of a latency fault to latencyMs, with a default duration', () => {
    const sut = new FaultPlan(() => 1);
    sut.set({ latencyMs: 10, queue: [{ kind: 'latency', ms: 40 }, { kind: 'latency' }] });

    expect(sut.decide('/x').delayMs).toBe(50);
    expect(sut.decide('/x').delayMs).toBe(10 + DEFAULT_LATENCY_MS);
  });

  it('leaves requests outside pathPrefix alone, queue included', () => {
    const sut = new FaultPlan(() => 0);
    sut.set({ pathPrefix: '/v1/refunds', rateLimitRate: 1, queue: [{ kind: 'hang' }] });

    expect(sut.decide('/v1/payment_intents')).toEqual({ delayMs: 0 });
    expect(sut.decide('/v1/refunds').fault).toEqual({ kind: 'hang' });
    expect(sut.decide('/v1/refunds').fault).toEqual({ kind: 'rate_limit' });
  });

  it('appends with enqueue and reports a copy with current()', () => {
    const sut = new FaultPlan(() => 1);
    sut.set({ queue: [{ kind: 'reset' }] });
    sut.enqueue([{ kind: 'hang' }]);

    const current = sut.current();
    current.queue?.push({ kind: 'latency' });

    expect(sut.current()).toEqual({ queue: [{ kind: 'reset' }, { kind: 'hang' }] });
  });
});

describe('parseFaultOptions', () => {
  it('accepts valid options', () => {
    expect(
      parseFaultOptions({
        rateLimitRate: 0.5,
        latencyMs: 3,
        pathPrefix: '/v1',
        queue: [{ kind: 'reset' }],
      }),
    ).toEqual({
      rateLimitRate: 0.5,
      latencyMs: 3,
      pathPrefix: '/v1',
      queue: [{ kind: 'reset' }],
    });
  });

  it.each([
    [[]],
    [{ hangRate: -0.1 }],
    [{ hangRate: '1' }],
    [{ latencyMs: -1 }],
    [{ pathPrefix: 1 }],
    [{ other: 1 }],
    [{ queue: {} }],
  ])('rejects %j', (input) => {
    expect(() => parseFaultOptions(input)).toThrow(FaultOptionsError);
  });

  it('rejects unknown fault kinds and negative durations', () => {
    expect(() => parseFaults([{ kind: 'flood' }])).toThrow(/faults\[0\]\.kind/);
    expect(() => parseFaults([{ kind: 'latency', ms: -5 }])).toThrow(/faults\[0\]\.ms/);
  });
});
