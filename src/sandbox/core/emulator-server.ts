import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { FaultPlan, parseFaultOptions, parseFaults } from './faults';
import type {
  DeliveryRecord,
  EmulatorContext,
  EmulatorDefinition,
  EmulatorResponse,
  Fault,
  FaultKind,
  FaultOptions,
  ProviderName,
  ReceivedRequest,
  WebhookDeliveryOptions,
} from './types';
import { WebhookSender } from './webhook-sender';

export interface EmulatorServerOptions {
  /** 0 or absent: a free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  faults?: FaultOptions;
  delivery?: WebhookDeliveryOptions;
  /** Decides rate-based faults; inject a seeded one for deterministic runs. Default `Math.random`. */
  random?: () => number;
  /** The emulator's clock. Default the system clock. */
  now?: () => Date;
  /** Larger request bodies are answered 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Errors thrown by the definition (answered 500) and by `later` callbacks. Default: printed to stderr. */
  onError?: (error: unknown, where: string) => void;
}

export const CONTROL_PREFIX = '/__sandbox';
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

class BodyTooLargeError extends Error {}
class BadControlRequestError extends Error {}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError());
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new BadControlRequestError('The body is not valid JSON.');
  }
}

function defaultOnError(error: unknown, where: string): void {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`[sandbox] ${where}: ${text}\n`);
}

/**
 * Serves one {@link EmulatorDefinition} over node:http and adds what all three
 * emulators share: injected faults, the request log, webhook delivery with
 * redelivery, and the `/__sandbox/...` control API (never subject to faults).
 */
export class EmulatorServer {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly laterTimers = new Set<NodeJS.Timeout>();
  private readonly waits = new Map<NodeJS.Timeout, (completed: boolean) => void>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly faultPlan: FaultPlan;
  private readonly sender: WebhookSender;
  private readonly now: () => Date;
  private readonly onError: (error: unknown, where: string) => void;
  private readonly context: EmulatorContext;
  private log: ReceivedRequest[] = [];
  private baseUrl?: string;
  private stopping = false;

  constructor(
    readonly definition: EmulatorDefinition,
    private readonly options: EmulatorServerOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.onError = options.onError ?? defaultOnError;
    this.faultPlan = new FaultPlan(options.random ?? Math.random);
    this.faultPlan.set(options.faults ?? {});
    this.sender = new WebhookSender({
      ...options.delivery,
      now: this.now,
      onSettled: () => this.checkIdle(),
    });
    this.context = {
      now: () => this.now(),
      deliver: (webhook) => {
        if (!this.stopping) this.sender.send(webhook);
      },
      later: (ms, fn) => this.later(ms, fn),
      baseUrl: () => this.url,
    };
    this.server = http.createServer((req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.onError(err, `${req.method ?? '?'} ${req.url ?? '?'}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get name(): ProviderName {
    return this.definition.name;
  }

  /** The base URL, e.g. `http://127.0.0.1:12111`; only after `start()`. */
  get url(): string {
    if (this.baseUrl === undefined) throw new Error(`The ${this.name} emulator is not started.`);
    return this.baseUrl;
  }

  /** Listens on the given port (or a free one) and resolves with the base URL. */
  async start(): Promise<string> {
    if (this.server.listening) return this.url;
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.stopping = false;
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return this.baseUrl;
  }

  /** Closes the server: open and hung sockets, timers and pending redeliveries included. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelWork();
    for (const [timer, resolve] of this.waits) {
      clearTimeout(timer);
      resolve(false);
    }
    this.waits.clear();
    if (!this.server.listening) {
      this.releaseIdleWaiters();
      return;
    }
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closed;
    this.releaseIdleWaiters();
  }

  /** Replaces the fault options, including the queue (`queue` absent: emptied). */
  setFaults(faults: FaultOptions): void {
    this.faultPlan.set(faults);
  }

  /** Appends exact faults for the next requests, one per request. */
  queueFaults(faults: Fault[]): void {
    this.faultPlan.enqueue(faults);
  }

  faults(): FaultOptions {
    return this.faultPlan.current();
  }

  /** Requests in the order they were answered (hang and reset: when applied). */
  requests(): ReceivedRequest[] {
    return this.log.map((r) => ({ ...r, headers: { ...r.headers } }));
  }

  deliveries(): DeliveryRecord[] {
    return this.sender.list();
  }

  state(): unknown {
    return this.definition.state?.() ?? {};
  }

  /** Same as `POST /__sandbox/trigger`. */
  trigger(body: unknown): unknown {
    if (!this.definition.trigger) throw new Error(`The ${this.name} emulator has no trigger.`);
    return this.definition.trigger(body, this.context);
  }

  /**
   * Forgets the definition's state, the request and delivery logs, pending
   * deliveries and scheduled work, and restores the faults given to the constructor.
   */
  reset(): void {
    this.cancelWork();
    this.sender.clear();
    this.log = [];
    this.faultPlan.set(this.options.faults ?? {});
    this.definition.reset();
    this.checkIdle();
  }

  /** Resolves once no webhook delivery (or scheduled `later` work) is in flight or waiting. */
  whenDeliveriesIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.sender.pending() === 0 && this.laterTimers.size === 0;
  }

  private checkIdle(): void {
    if (this.isIdle()) this.releaseIdleWaiters();
  }

  private releaseIdleWaiters(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private cancelWork(): void {
    for (const timer of this.laterTimers) clearTimeout(timer);
    this.laterTimers.clear();
    this.sender.cancelAll();
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      try {
        fn();
      } catch (err) {
        this.onError(err, `${this.name} scheduled work`);
      } finally {
        // Removed after fn ran, so deliveries it queued keep the server busy.
        this.laterTimers.delete(timer);
        this.checkIdle();
      }
    }, ms);
    this.laterTimers.add(timer);
  }

  /** Resolves true after `ms`, or false if the server stops first. */
  private wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waits.delete(timer);
        resolve(true);
      }, ms);
      this.waits.set(timer, resolve);
    });
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = this.now().toISOString();
    const target = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = target.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    let rawBody: Buffer;
    try {
      rawBody = await readBody(req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    } catch (err) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      this.send(res, {
        status: 413,
        headers: { Connection: 'close' },
        body: { error: { message: 'Request body too large.' } },
      });
      return;
    }

    if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
      this.onControl(method, path.slice(CONTROL_PREFIX.length), rawBody, res);
      return;
    }

    const record = (status: number | FaultKind, extra: Partial<ReceivedRequest> = {}): void => {
      this.log.push({
        method,
        path,
        query: target.search.replace(/^\?/, ''),
        headers: { ...req.headers },
        body: rawBody.toString('utf8'),
        status,
        at,
        ...extra,
      });
    };

    const { fault, delayMs } = this.faultPlan.decide(path);
    if (delayMs > 0 && !(await this.wait(delayMs))) return;
    if (req.socket.destroyed) return;

    switch (fault?.kind) {
      case 'rate_limit':
        record('rate_limit', { fault: 'rate_limit' });
        this.send(res, {
          status: 429,
          headers: this.definition.rateLimitHeaders(this.now()),
          body: this.definition.errorBody(429),
        });
        return;
      case 'server_error':
        record('server_error', { fault: 'server_error' });
        this.send(res, { status: 500, body: this.definition.errorBody(500) });
        return;
      case 'unavailable':
        record('unavailable', { fault: 'unavailable' });
        this.send(res, { status: 503, body: this.definition.errorBody(503) });
        return;
      case 'hang':
        // Never answered: the socket stays open until the client gives up or stop() destroys it.
        record('hang', { fault: 'hang' });
        return;
      case 'reset':
        record('reset', { fault: 'reset' });
        req.socket.destroy();
        return;
      case 'latency':
      case 'lost_response':
      case undefined:
        break;
    }

    let response: EmulatorResponse;
    let error: string | undefined;
    try {
      response = await this.definition.handle(
        { method, path, query: target.searchParams, headers: req.headers, rawBody },
        this.context,
      );
    } catch (err) {
      this.onError(err, `${this.name} ${method} ${path}`);
      error = err instanceof Error ? err.message : String(err);
      response = { status: 500, body: this.definition.errorBody(500) };
    }
    if (fault?.kind === 'lost_response') {
      // Handled, never answered: the socket stays open until the client gives up or stop().
      record('lost_response', { fault: 'lost_response' });
      return;
    }
    record(response.status, {
      ...(fault ? { fault: fault.kind } : {}),
      ...(error !== undefined ? { error } : {}),
    });
    this.send(res, response);
  }

  private onControl(method: string, route: string, body: Buffer, res: http.ServerResponse): void {
    const ok = (payload: unknown): void => this.send(res, { status: 200, body: payload });
    try {
      switch (`${method} ${route}`) {
        case 'GET /requests':
          return ok(this.requests());
        case 'GET /deliveries':
          return ok(this.deliveries());
        case 'GET /state':
          return ok(this.state());
        case 'GET /faults':
          return ok(this.faults());
        case 'POST /faults':
          this.setFaults(parseFaultOptions(parseJson(body)));
          return ok(this.faults());
        case 'POST /faults/queue':
          this.queueFaults(parseFaults(parseJson(body)));
          return ok(this.faults());
        case 'POST /reset':
          this.reset();
          return ok({ reset: true });
        case 'POST /trigger': {
          if (!this.definition.trigger) {
            return this.send(res, {
              status: 404,
              body: { error: { message: `The ${this.name} emulator has no trigger.` } },
            });
          }
          return ok(this.trigger(parseJson(body)) ?? {});
        }
        default:
          return this.send(res, {
            status: 404,
            body: { error: { message: `No control route ${method} ${CONTROL_PREFIX}${route}.` } },
          });
      }
    } catch (err) {
      // Bad JSON, bad fault options or a trigger the definition refused: the caller's mistake, told to the caller.
      this.send(res, {
        status: 400,
        body: { error: { message: err instanceof Error ? err.message : String(err) } },
      });
    }
  }

  private send(res: http.ServerResponse, response: EmulatorResponse): void {
    if (res.writableEnded || res.destroyed) return;
    const headers: Record<string, string> = { ...response.headers };
    const hasHeader = (name: string): boolean =>
      Object.keys(headers).some((h) => h.toLowerCase() === name);
    let payload: Buffer | undefined;
    if (response.body === undefined) {
      payload = undefined;
    } else if (Buffer.isBuffer(response.body)) {
      payload = response.body;
    } else if (typeof response.body === 'string') {
      payload = Buffer.from(response.body, 'utf8');
      if (!hasHeader('content-type')) headers['Content-Type'] = 'text/plain; charset=utf-8';
    } else {
      payload = Buffer.from(JSON.stringify(response.body), 'utf8');
      if (!hasHeader('content-type')) headers['Content-Type'] = 'application/json';
    }
    headers['Content-Length'] = String(payload?.length ?? 0);
    res.writeHead(response.status, headers);
    res.end(payload);
  }
}
