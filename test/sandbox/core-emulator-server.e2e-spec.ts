import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import type {
  EmulatorDefinition,
  FaultOptions,
  ReceivedRequest,
} from '../../src/sandbox/core/types';

/** A minimal definition: enough behaviour to exercise everything the server adds. */
class EchoDefinition implements EmulatorDefinition {
  readonly name = 'stripe' as const;
  resets = 0;
  signatures = 0;
  /** Requests the definition handled (acted on), answered or not. */
  handled = 0;

  handle: EmulatorDefinition['handle'] = (req, ctx) => {
    this.handled += 1;
    const to = req.query.get('to') ?? '';
    switch (req.path) {
      case '/echo':
        return {
          status: 201,
          headers: { 'X-Echo': 'yes' },
          body: { method: req.method, query: req.query.toString(), body: req.rawBody.toString() },
        };
      case '/text':
        return { status: 200, body: 'plain' };
      case '/boom':
        throw new Error('kaboom');
      case '/deliver':
        ctx.deliver({
          url: to,
          headers: { 'Content-Type': 'application/json' },
          body: '{"n":1}',
          resign: () => ({ 'X-Signature': String(++this.signatures) }),
        });
        return { status: 202 };
      case '/later':
        ctx.later(20, () => ctx.deliver({ url: to, headers: {}, body: 'later' }));
        return { status: 202 };
      default:
        return { status: 404, body: { error: 'not found' } };
    }
  };

  rateLimitHeaders(): Record<string, string> {
    return { 'Retry-After': '7', 'X-RateLimit-Remaining': '0' };
  }

  errorBody(status: number): unknown {
    return { error: { status } };
  }

  reset(): void {
    this.resets += 1;
  }

  trigger(body: unknown): unknown {
    if (typeof body !== 'object' || body === null) throw new Error('object expected');
    return { triggered: body };
  }

  state(): unknown {
    return { resets: this.resets };
  }
}

/** Answers each POST with the next status (then 200) and remembers what it got. */
async function receiver(statuses: number[]): Promise<{
  url: string;
  got: { headers: http.IncomingHttpHeaders; body: string }[];
  close: () => Promise<void>;
}> {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    got,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe(EmulatorServer.name, () => {
  const initialFaults: FaultOptions = { pathPrefix: '/echo', latencyMs: 0 };
  let definition: EchoDefinition;
  let sut: EmulatorServer;

  const get = (path: string, init?: RequestInit) => fetch(`${sut.url}${path}`, init);
  const post = (path: string, body: unknown) =>
    fetch(`${sut.url}${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const statuses = () => sut.requests().map((r) => r.status);

  beforeEach(async () => {
    definition = new EchoDefinition();
    sut = new EmulatorServer(definition, {
      faults: initialFaults,
      delivery: { retryScheduleMs: [5, 5], timeoutMs: 500 },
    });
    await sut.start();
  });

  afterEach(async () => {
    await sut.stop();
  });

  it('listens on a free port of 127.0.0.1 and serves the definition', async () => {
    expect(sut.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const res = await fetch(`${sut.url}/echo?a=1`, { method: 'POST', body: 'x=y' });

    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo')).toBe('yes');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ method: 'POST', query: 'a=1', body: 'x=y' });
    const text = await get('/text');
    expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await text.text()).toBe('plain');
  });

  it('listens on the port it is given', async () => {
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const fixed = new EmulatorServer(new EchoDefinition(), { port });
    try {
      expect(await fixed.start()).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await fixed.stop();
    }
  });

  it('refuses `url` before start, and stops cleanly when never started', async () => {
    const idle = new EmulatorServer(new EchoDefinition());
    expect(() => idle.url).toThrow(/not started/);
    await expect(idle.stop()).resolves.toBeUndefined();
  });

  it('records requests and answers a throwing definition with its 500 body', async () => {
    await fetch(`${sut.url}/echo?q=1`, {
      method: 'POST',
      body: 'hello',
      headers: { 'X-Test': 't' },
    });
    const errors: unknown[] = [];
    const quiet = new EmulatorServer(new EchoDefinition(), { onError: (err) => errors.push(err) });
    await quiet.start();
    try {
      const res = await fetch(`${quiet.url}/boom`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { status: 500 } });
      expect(quiet.requests()[0]).toMatchObject({ path: '/boom', status: 500, error: 'kaboom' });
      expect(errors).toHaveLength(1);
    } finally {
      await quiet.stop();
    }

    const [record] = sut.requests();
    expect(record).toMatchObject<Partial<ReceivedRequest>>({
      method: 'POST',
      path: '/echo',
      query: 'q=1',
      body: 'hello',
      status: 201,
    });
    expect(record.headers['x-test']).toBe('t');
    expect(Date.parse(record.at)).not.toBeNaN();
  });

  it('answers 413 to a body over the limit', async () => {
    const small = new EmulatorServer(new EchoDefinition(), { maxBodyBytes: 10 });
    await small.start();
    try {
      const res = await fetch(`${small.url}/echo`, { method: 'POST', body: 'x'.repeat(11) });
      expect(res.status).toBe(413);
    } finally {
      await small.stop();
    }
  });

  describe('faults', () => {
    it('rate_limit answers 429 with the provider headers and error body', async () => {
      sut.queueFaults([{ kind: 'rate_limit' }]);

      const res = await get('/echo');

      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(await res.json()).toEqual({ error: { status: 429 } });
    });

    it('server_error and unavailable answer 500 and 503 with the error body', async () => {
      sut.queueFaults([{ kind: 'server_error' }, { kind: 'unavailable' }]);

      const first = await get('/echo');
      const second = await get('/echo');

      expect([first.status, second.status]).toEqual([500, 503]);
      expect(await second.json()).toEqual({ error: { status: 503 } });
      expect(sut.requests().map((r) => r.fault)).toEqual(['server_error', 'unavailable']);
    });

    it('latency delays the answer: a later request overtakes it', async () => {
      sut.queueFaults([{ kind: 'latency', ms: 200 }]);
      const order: string[] = [];

      const slow = get('/echo?n=slow').then(() => order.push('slow'));
      await new Promise<void>((resolve) => {
        const check = (): void =>
          sut.faults().queue?.length === 0 ? resolve() : void setImmediate(check);
        check();
      });
      const fast = get('/echo?n=fast').then(() => order.push('fast'));
      await Promise.all([slow, fast]);

      expect(order).toEqual(['fast', 'slow']);
      expect(sut.requests().map((r) => [r.query, r.status, r.fault])).toEqual([
        ['n=fast', 201, undefined],
        ['n=slow', 201, 'latency'],
      ]);
    });

    it('hang neither handles nor answers; the client gives up', async () => {
      sut.queueFaults([{ kind: 'hang' }]);

      await expect(get('/echo', { signal: AbortSignal.timeout(100) })).rejects.toThrow();

      expect(statuses()).toEqual(['hang']);
      expect(definition.handled).toBe(0);
    });

    it('lost_response handles the request but never answers; the client gives up', async () => {
      sut.queueFaults([{ kind: 'lost_response' }]);

      await expect(get('/echo', { signal: AbortSignal.timeout(100) })).rejects.toThrow();

      expect(statuses()).toEqual(['lost_response']);
      expect(definition.handled).toBe(1);
      // The next request is handled and answered as usual.
      expect((await get('/echo')).status).toBe(201);
    });

    it('reset drops the connection without an answer', async () => {
      sut.queueFaults([{ kind: 'reset' }]);

      await expect(get('/echo')).rejects.toThrow(/fetch failed/);

      expect(statuses()).toEqual(['reset']);
    });

    it('only applies to the configured path prefix, and never consumes the queue elsewhere', async () => {
      sut.queueFaults([{ kind: 'server_error' }]);

      expect((await get('/text')).status).toBe(200);
      expect((await get('/echo')).status).toBe(500);
    });

    it('adds latencyMs to every request', async () => {
      sut.setFaults({ latencyMs: 30, queue: [{ kind: 'server_error' }] });
      const started = process.hrtime.bigint();

      const res = await get('/text');

      expect(res.status).toBe(500);
      expect(Number(process.hrtime.bigint() - started) / 1e6).toBeGreaterThanOrEqual(25);
    });
  });

  describe('control API', () => {
    it('lists requests, deliveries, state and faults', async () => {
      await get('/text');

      const requests = (await (await get('/__sandbox/requests')).json()) as ReceivedRequest[];
      expect(requests.map((r) => [r.method, r.path, r.status])).toEqual([['GET', '/text', 200]]);
      expect(await (await get('/__sandbox/deliveries')).json()).toEqual([]);
      expect(await (await get('/__sandbox/state')).json()).toEqual({ resets: 0 });
      expect(await (await get('/__sandbox/faults')).json()).toEqual({
        ...initialFaults,
        queue: [],
      });
    });

    it('replaces faults and appends to the queue', async () => {
      const set = await post('/__sandbox/faults', {
        serverErrorRate: 0.5,
        queue: [{ kind: 'hang' }],
      });
      expect(set.status).toBe(200);
      const queued = await post('/__sandbox/faults/queue', [
        { kind: 'latency', ms: 5 },
        { kind: 'reset' },
      ]);

      expect(await queued.json()).toEqual({
        serverErrorRate: 0.5,
        queue: [{ kind: 'hang' }, { kind: 'latency', ms: 5 }, { kind: 'reset' }],
      });
    });

    it('rejects bad JSON and bad fault options with 400, unknown routes with 404', async () => {
      expect((await post('/__sandbox/faults', '{nope')).status).toBe(400);
      const bad = await post('/__sandbox/faults', { serverErrorRate: 2 });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual({
        error: { message: 'serverErrorRate must be a number from 0 to 1.' },
      });
      expect((await post('/__sandbox/faults/queue', [{ kind: 'meteor' }])).status).toBe(400);
      expect((await post('/__sandbox/faults', { colour: 'red' })).status).toBe(400);
      expect((await get('/__sandbox/nothing')).status).toBe(404);
      expect(sut.requests()).toEqual([]);
    });

    it('triggers through the definition; a refused trigger is a 400', async () => {
      const ok = await post('/__sandbox/trigger', { type: 'x' });
      expect(await ok.json()).toEqual({ triggered: { type: 'x' } });

      expect((await post('/__sandbox/trigger', 'null')).status).toBe(400);
    });

    it('resets logs, state and faults back to the constructor options', async () => {
      sut.setFaults({ serverErrorRate: 1 });
      expect((await get('/text')).status).toBe(500);
      const res = await post('/__sandbox/reset', {});

      expect(res.status).toBe(200);
      expect(sut.requests()).toEqual([]);
      expect(definition.resets).toBe(1);
      expect(sut.faults()).toEqual({ ...initialFaults, queue: [] });
    });
  });

  describe('webhook delivery', () => {
    it('re-signs every attempt and redelivers on non-2xx until accepted', async () => {
      const hook = await receiver([500, 502]);
      try {
        await get(`/deliver?to=${encodeURIComponent(hook.url)}`);
        await sut.whenDeliveriesIdle();

        expect(hook.got.map((g) => g.headers['x-signature'])).toEqual(['1', '2', '3']);
        expect(
          hook.got.every(
            (g) => g.body === '{"n":1}' && g.headers['content-type'] === 'application/json',
          ),
        ).toBe(true);
        const [record] = sut.deliveries();
        expect(record).toMatchObject({ url: hook.url, body: '{"n":1}', delivered: true });
        expect(record.attempts.map((a) => a.status)).toEqual([500, 502, 200]);
      } finally {
        await hook.close();
      }
    });

    it('counts work scheduled with later() as pending', async () => {
      const hook = await receiver([]);
      try {
        await get(`/later?to=${encodeURIComponent(hook.url)}`);
        await sut.whenDeliveriesIdle();

        expect(hook.got.map((g) => g.body)).toEqual(['later']);
        expect(sut.deliveries()[0].delivered).toBe(true);
      } finally {
        await hook.close();
      }
    });

    it('times out an attempt that gets no answer', async () => {
      const silent = http.createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
      const impatient = new EmulatorServer(new EchoDefinition(), {
        delivery: { retryScheduleMs: [], timeoutMs: 50 },
      });
      await impatient.start();
      try {
        await fetch(`${impatient.url}/deliver?to=${encodeURIComponent(url)}`);
        await impatient.whenDeliveriesIdle();
        expect(impatient.deliveries()[0].attempts).toEqual([
          { at: expect.any(String), status: 'network_error', error: 'timed out after 50 ms' },
        ]);
      } finally {
        await impatient.stop();
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  });

  it('stop() closes hung sockets and cancels pending redeliveries at once', async () => {
    const hook = await receiver([500]);
    const patient = new EmulatorServer(new EchoDefinition(), {
      delivery: { retryScheduleMs: [60_000] },
    });
    await patient.start();
    try {
      await fetch(`${patient.url}/deliver?to=${encodeURIComponent(hook.url)}`);
      patient.queueFaults([{ kind: 'hang' }]);
      const hung = fetch(`${patient.url}/echo`).then(
        () => 'answered',
        () => 'dropped',
      );
      await new Promise<void>((resolve) => {
        const check = (): void =>
          patient.requests().some((r) => r.status === 'hang')
            ? resolve()
            : void setImmediate(check);
        check();
      });
      const idle = patient.whenDeliveriesIdle();

      await patient.stop();

      await expect(hung).resolves.toBe('dropped');
      await expect(idle).resolves.toBeUndefined();
      expect(patient.deliveries()[0]).toMatchObject({ delivered: false });
    } finally {
      await patient.stop();
      await hook.close();
    }
  });
});
