import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
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
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  // Kept on the raw request too, so the request logger (pino-http) uses the same id.
  Object.assign(req, { id });
  return id;
}

export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.http.trustProxy,
    requestIdHeader: false,
    genReqId: requestIdFor,
    logger: false,
    ...(config.http.tls ? { https: { cert: config.http.tls.cert, key: config.http.tls.key } } : {}),
  });
}

function sendError(request: FastifyRequest, reply: FastifyReply, err: AppError): FastifyReply {
  return reply
    .status(err.status)
    .type('application/json; charset=utf-8')
    .send(toErrorBody(err, String(request.id)));
}

function pathOf(url: string): string {
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
export function securityHeaderOptions(config: AppConfig): FastifyHelmetOptions {
  return {
    global: true,
    hsts: false,
    contentSecurityPolicy: {
      directives: { upgradeInsecureRequests: config.http.enforceHttps ? [] : null },
    },
  };
}

/**
 * Registers `@fastify/helmet` (the usual security headers on every response).
 * Call before {@link installHttpHooks}: helmet sets its headers in an
 * `onRequest` hook, which must run before ours may answer early (415, 403).
 */
export async function registerSecurityHeaders(
  app: NestFastifyApplication,
  config: AppConfig,
): Promise<void> {
  await app.register(helmet, securityHeaderOptions(config));
}

/**
 * Fastify hooks that must run before Nest sees a request: media-type and
 * HTTPS checks, and the headers every response carries.
 */
export function installHttpHooks(app: NestFastifyApplication, config: AppConfig): void {
  const fastify = app.getHttpAdapter().getInstance();

  fastify.addHook('onRequest', (request, reply, done) => {
    const path = pathOf(request.url);
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
    void reply.header('x-content-type-options', 'nosniff');
    reply.removeHeader('x-powered-by');
    // RFC 6797 §7.2: HSTS is only meaningful (and only sent) over HTTPS.
    if (config.http.enforceHttps && overHttps(request)) {
      void reply.header('strict-transport-security', HSTS);
    }
    done(null, payload);
  });
}
