import type { FastifyInstance, FastifyRequest } from 'fastify';
import { storage, type Store } from 'nestjs-pino/storage';
import type { Logger } from 'pino';
import { pathOf } from '../http/http-setup';
import { maskString } from './mask';

/** Polled every few seconds by load balancers: not worth a line each. */
const QUIET_PREFIX = '/health/';

/**
 * What nestjs-pino's `PinoLogger` finds in its async-local store while a
 * request is served: a logger bound to the request id. The child is made on
 * first use, so a request whose handling logs nothing but its own line costs
 * no child logger.
 */
class RequestLogStore implements Store {
  private child?: Logger;
  responseLogger?: Logger;

  constructor(
    private readonly root: Logger,
    private readonly requestId: string,
  ) {}

  get logger(): Logger {
    this.child ??= this.root.child({ requestId: this.requestId });
    return this.child;
  }

  /** `PinoLogger.assign()` replaces it with a child carrying more fields. */
  set logger(logger: Logger) {
    this.child = logger;
  }
}

/** The API key's name once the guard has authenticated the caller (never the secret). */
function apiKeyOf(request: FastifyRequest): string | undefined {
  return request.principal?.name;
}

/**
 * One JSON line per request (CONTRACT "Logs"), written when the response has
 * been sent: `requestId`, `apiKey`, `req` (method, URL with personal data
 * masked), `res` (status) and `responseTime` in ms; `request errored` at
 * `error` for a 5xx. Every line logged while the request is served carries its
 * `requestId`: the hooks run the rest of the request inside nestjs-pino's
 * async-local store.
 *
 * Install before any other `onRequest` hook, so that everything after it,
 * early answers included, runs in the request's store.
 */
export function installRequestLogging(fastify: FastifyInstance, root: Logger): void {
  // The request line is built from values that are safe already (the URL masked, the key's
  // name, no headers): skip the deep masking every other line gets, which would also hide
  // `apiKey`, and the redaction paths, which it cannot contain (a third of a line's cost).
  const lines = root.child({}, { formatters: { log: (line: object) => line }, redact: [] });
  fastify.addHook('onRequest', (request, _reply, done) => {
    storage.run(new RequestLogStore(root, String(request.id)), done);
  });

  fastify.addHook('onResponse', (request, reply, done) => {
    const url = request.url;
    if (!pathOf(url).startsWith(QUIET_PREFIX)) {
      const status = reply.statusCode;
      const line = {
        requestId: String(request.id),
        apiKey: apiKeyOf(request),
        req: { method: request.method, url: maskString(url) },
        res: { statusCode: status },
        responseTime: Math.round(reply.elapsedTime * 1000) / 1000,
      };
      if (status >= 500) lines.error(line, 'request errored');
      else lines.info(line, 'request completed');
    }
    done();
  });

  fastify.addHook('onRequestAbort', (request, done) => {
    lines.warn(
      {
        requestId: String(request.id),
        apiKey: apiKeyOf(request),
        req: { method: request.method, url: maskString(request.url) },
      },
      'request aborted',
    );
    done();
  });
}
