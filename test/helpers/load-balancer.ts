import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What an operator puts in front of several instances: a round-robin HTTP
 * proxy that passes a request on to the next instance that accepts the
 * connection (a stopped one is skipped), so `PUBLIC_BASE_URL` and the
 * providers' webhooks point at one address whatever instance is up.
 */
export class LoadBalancer {
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private next = 0;
  private baseUrl?: string;

  /** `backends`: base URLs such as `http://127.0.0.1:3001`. */
  constructor(private readonly backends: readonly string[]) {
    // A client that goes away mid-request (an emulator giving up) just ends the exchange.
    this.server = http.createServer((req, res) => {
      this.forward(req, res).catch(() => res.destroy());
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('the load balancer is not started');
    return this.baseUrl;
  }

  async start(port = 0): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const first = this.next;
    this.next = (this.next + 1) % this.backends.length;
    for (let i = 0; i < this.backends.length; i++) {
      const backend = this.backends[(first + i) % this.backends.length];
      const answered = await this.tryBackend(backend, req, body, res);
      if (answered) return;
    }
    res.writeHead(502).end();
  }

  /** False when the backend refused the connection (try the next one); true once `res` is answered. */
  private tryBackend(
    backend: string,
    req: http.IncomingMessage,
    body: Buffer,
    res: http.ServerResponse,
  ): Promise<boolean> {
    return new Promise((resolve) => {
      const upstream = http.request(
        `${backend}${req.url ?? '/'}`,
        { method: req.method, headers: { ...req.headers, connection: 'close' }, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', () => resolve(true));
          answer.on('error', () => {
            res.destroy();
            resolve(true);
          });
        },
      );
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        // Refused: the instance is down, nothing reached it. Anything later (a reset
        // mid-request) may have been acted on, so it is the client's to retry, as with a real proxy.
        if (err.code === 'ECONNREFUSED') resolve(false);
        else {
          if (!res.headersSent) res.writeHead(502);
          res.end();
          resolve(true);
        }
      });
      upstream.end(body);
    });
  }
}
