/**
 * The load generator, a child process on its own core: `connections`
 * keep-alive connections, each sending one signed webhook at a time (closed
 * loop), over a minimal HTTP/1.1 client on node:net — node's own http client
 * saturates its core before a fast server does. Every event id is distinct.
 */
import * as net from 'node:net';
import { stripeEventBody, stripeSignature } from './event';

export interface LoadRequest {
  host: string;
  port: number;
  secret: string;
  /** Number of the first event (ids are distinct across calls when ranges do not overlap). */
  first: number;
  count: number;
  connections: number;
  maxSeconds: number;
  /** Extra raw header lines, each ending in CRLF. */
  extraHeaders: string;
}

export interface LoadResult {
  sent: number;
  accepted: number;
  /** Non-200 answers by status. */
  failed: Record<string, number>;
  seconds: number;
  perSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
}

export type LoadReply = { type: 'result'; result: LoadResult } | { type: 'error'; error: string };

interface State {
  requests: Buffer[];
  next: number;
  accepted: number;
  failed: Record<string, number>;
  latenciesUs: number[];
  deadline: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The request bytes, made up front so that signing and serialising are not timed. */
function buildRequests(r: LoadRequest): Buffer[] {
  const now = Math.floor(Date.now() / 1000);
  return Array.from({ length: r.count }, (_, i) => {
    const body = stripeEventBody(r.first + i, now);
    const head =
      `POST /webhooks/stripe HTTP/1.1\r\nHost: ${r.host}:${r.port}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      'User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n' +
      `Stripe-Signature: ${stripeSignature(r.secret, body, now)}\r\n` +
      r.extraHeaders +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return Buffer.from(head + body);
  });
}

/** One connection: the next request goes when the previous answer is complete. */
function runConnection(state: State, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let sentAt = 0n;
    const sendNext = (): void => {
      if (state.next >= state.requests.length || Date.now() > state.deadline) {
        socket.end();
        return;
      }
      const request = state.requests[state.next++];
      sentAt = process.hrtime.bigint();
      socket.write(request);
    };
    socket.on('connect', sendNext);
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!length) {
          socket.destroy();
          reject(new Error(`response without Content-Length: ${head.split('\r\n')[0]}`));
          return;
        }
        const total = end + 4 + Number(length[1]);
        if (buffer.length < total) return;
        const status = head.slice(9, 12);
        buffer = buffer.subarray(total);
        state.latenciesUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
        if (status === '200') state.accepted += 1;
        else state.failed[status] = (state.failed[status] ?? 0) + 1;
        sendNext();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

export async function runLoad(r: LoadRequest): Promise<LoadResult> {
  const state: State = {
    requests: buildRequests(r),
    next: 0,
    accepted: 0,
    failed: {},
    latenciesUs: [],
    deadline: Date.now() + r.maxSeconds * 1000,
  };
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: r.connections }, () => runConnection(state, r.host, r.port)),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = Float64Array.from(state.latenciesUs).sort();
  return {
    sent: state.next,
    accepted: state.accepted,
    failed: state.failed,
    seconds,
    perSecond: state.accepted / seconds,
    latencyMs: {
      p50: percentile(sorted, 50) / 1000,
      p99: percentile(sorted, 99) / 1000,
      max: (sorted[sorted.length - 1] ?? 0) / 1000,
    },
  };
}

if (require.main === module) {
  process.once('message', (message: LoadRequest) => {
    const send = (reply: LoadReply): void => {
      process.send?.(reply, () => process.exit(0));
    };
    runLoad(message).then(
      (result) => send({ type: 'result', result }),
      (err: unknown) =>
        send({ type: 'error', error: String(err instanceof Error ? err.stack : err) }),
    );
  });
}
