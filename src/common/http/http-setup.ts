import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { type HelmetOptions } from 'helmet';
import type { AppConfig } from '../../config/app.config';
import { AppError } from '../errors/app-error';
import { toErrorBody } from '../errors/to-app-error';

export const BODY_LIMIT_BYTES = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Routes that take form bodies (Twilio posts forms); every other body must be JSON. */
const FORM_ROUTES = ['/webhooks/twilio'];

/** The client's `X-Request-Id` when it is well-formed, else a new one. */
export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  const security = securityHeaders(config);
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.http.trustProxy,
    requestIdHeader: false,
    genReqId: requestIdFor,
    logger: false,
    // A URL the router cannot decode (`/payments/%E0%A4%A`) is answered before any hook or
    // filter runs: give it our error shape and the headers every response carries.
    frameworkErrors: (err: { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      void reply.headers(security).header('x-request-id', String(request.id));
      void sendError(
        request,
        reply,
        err.code === 'FST_ERR_BAD_URL'
          ? AppError.validation([{ field: 'url', message: 'the URL is not validly encoded' }])
          : new AppError('internal_error', 'internal error'),
      );
    },
    ...(config.http.tls ? { https: { cert: config.http.tls.cert, key: config.http.tls.key } } : {}),
  });
}

function sendError(request: FastifyRequest, reply: FastifyReply, err: AppError): FastifyReply {
  return reply
    .status(err.status)
    .type('application/json; charset=utf-8')
    .send(toErrorBody(err, String(request.id)));
}

/** The URL without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
  );
}

/**
 * Whether the request reached us over HTTPS: the connection's own protocol, or
 * the proxy's `X-Forwarded-Proto` when `TRUST_PROXY` is on (Fastify's
 * `trustProxy` decides which one `request.protocol` reports).
 */
function overHttps(request: FastifyRequest): boolean {
  return request.protocol?.toLowerCase() === 'https';
}

const HSTS = 'max-age=31536000; includeSubDomains';

/**
 * Helmet's defaults, except two that depend on HTTPS being enforced:
 * `Strict-Transport-Security` is ours (only on HTTPS responses, see
 * {@link installHttpHooks}), and the CSP's `upgrade-insecure-requests` would
 * break the Swagger UI at /docs when the service is reached over plain HTTP
 * (development). The default CSP (scripts from 'self', inline styles) is what
 * the Swagger UI needs.
 */
export function securityHeaderOptions(config: AppConfig): HelmetOptions {
  return {
    hsts: false,
    contentSecurityPolicy: {
      directives: { upgradeInsecureRequests: config.http.enforceHttps ? [] : null },
    },
  };
}

/**
 * The security headers every response carries, as helmet sets them for
 * {@link securityHeaderOptions}. They depend only on the configuration, so
 * helmet runs once, at start-up, against a response that records them, instead
 * of once per request (`@fastify/helmet` builds helmet's middleware again for
 * every request: a fifth of the CPU of a webhook, measured in bench/webhooks).
 */
export function securityHeaders(config: AppConfig): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]): void {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string): void {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  let done = false;
  helmet(securityHeaderOptions(config))(
    {} as IncomingMessage,
    recorder as unknown as ServerResponse,
    (err?: unknown) => {
      done = true;
      failure = err;
    },
  );
  // helmet's middleware is synchronous; anything else would leave responses unprotected.
  if (!done || failure !== undefined) {
    const why = failure instanceof Error ? failure.message : 'helmet did not finish at once';
    throw new Error(`security headers could not be computed: ${why}`);
  }
  return Object.freeze(headers);
}

/**
 * Fastify hooks that must run before Nest sees a request: media-type and
 * HTTPS checks, and the headers every response carries (helmet's, see
 * {@link securityHeaders}, and the request id).
 */
export function installHttpHooks(app: NestFastifyApplication, config: AppConfig): void {
  const fastify = app.getHttpAdapter().getInstance();
  const security = securityHeaders(config);

  fastify.addHook('onRequest', (request, reply, done) => {
    // First, so that early answers (415, 403) carry them too.
    void reply.headers(security);
    // The route the router matched, not the raw URL: it decodes percent-escapes, so
    // `/%77ebhooks/stripe` reaches the Stripe webhook and must be checked as one.
    const path = request.routeOptions.url ?? pathOf(request.url);
    if (config.http.enforceHttps && path.startsWith('/webhooks/') && !overHttps(request)) {
      void sendError(
        request,
        reply,
        new AppError('https_required', 'webhooks must be delivered over HTTPS'),
      );
      return;
    }
    if (['POST', 'PUT', 'PATCH'].includes(request.method) && hasBody(request)) {
      const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const form = FORM_ROUTES.includes(path);
      const ok = form ? type === 'application/x-www-form-urlencoded' : type === 'application/json';
      if (!ok) {
        const expected = form ? 'application/x-www-form-urlencoded' : 'application/json';
        void sendError(
          request,
          reply,
          new AppError('unsupported_media_type', `the request body must be ${expected}`),
        );
        return;
      }
    }
    done();
  });

  fastify.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', String(request.id));
    // RFC 6797 §7.2: HSTS is only meaningful (and only sent) over HTTPS.
    if (config.http.enforceHttps && overHttps(request)) {
      void reply.header('strict-transport-security', HSTS);
    }
    done(null, payload);
  });
}
