import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay between the app and a shared server (PostgreSQL, Redis), so a
 * test can take "the server" away and bring it back without touching the real
 * one that other suites use: {@link cut} drops every connection and stops
 * listening (as a crashed or restarting server does), {@link restore} listens
 * again on the same port. {@link stall} keeps the connections open but
 * forwards nothing (a server that hangs), until {@link resume}.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly clients = new Set<Socket>();
  private stalled = false;
  /** What arrived while stalled, in order, delivered on {@link resume}. */
  private held: [to: Socket, chunk: Buffer][] = [];

  private constructor(
    private readonly target: { host: string; port: number },
    private listenPort: number,
  ) {}

  /** Starts relaying to `target` on a free port of 127.0.0.1. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target, 0);
    await proxy.listen();
    return proxy;
  }

  /** Relays to the server `url` names (its port, else `defaultPort`). */
  static inFrontOf(url: string, defaultPort: number): Promise<TcpProxy> {
    const target = new URL(url);
    return TcpProxy.start({ host: target.hostname, port: Number(target.port || defaultPort) });
  }

  get port(): number {
    return this.listenPort;
  }

  /** Open connections from the app: once back to what it was before a cut, every client has reconnected. */
  get connections(): number {
    return this.clients.size;
  }

  /** `url` with its host and port replaced by this proxy's. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.listenPort);
    return parsed.toString();
  }

  /** Every connection dropped, nothing accepted: the server is down. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.held = [];
    // destroy(), not resetAndDestroy(): on Node 20 the latter leaves the handle of a socket whose
    // peer had already closed spinning, and Jest never exits.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.clients.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listening again on the same port: the server is back. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  /** Connections stay up, but no byte goes through in either direction. */
  stall(): void {
    this.stalled = true;
  }

  /** Delivers what was held back, in order, and forwards again. */
  resume(): void {
    this.stalled = false;
    for (const [to, chunk] of this.held.splice(0)) if (!to.destroyed) to.write(chunk);
  }

  close(): Promise<void> {
    this.stalled = false;
    return this.cut();
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => this.relay(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (typeof address === 'object' && address) this.listenPort = address.port;
    this.server = server;
  }

  private relay(client: Socket): void {
    const upstream = createConnection(this.target);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      // A reset on one side closes the other; nothing to report.
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.stalled) this.held.push([to, chunk]);
      else to.write(chunk);
    });
  }
}
