import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import Stripe from 'stripe';

import { parseForm } from '../../src/sandbox/core/form-body';
import type { EmulatorServer } from '../../src/sandbox/core/emulator-server';
import { compileComponent, compileRequestBody, compileResponse } from './openapi';
import type { CompileOptions, SchemaValidator } from './openapi';

export const STRIPE_SPEC = 'stripe/spec3.2022-04-12.json';

/**
 * Values the API gained after the 2022 spec that the SDK's pinned version
 * returns by default (capture_method `automatic_async`, since 2024-04-10).
 */
const NEWER_ENUMS: CompileOptions['extraEnumValues'] = {
  '#/components/schemas/payment_intent/properties/capture_method': ['automatic_async'],
};

export interface StripeClientOptions {
  timeout?: number;
  maxNetworkRetries?: number;
}

/** The real SDK, pointed at the emulator over plain HTTP. */
export function stripeClient(
  server: EmulatorServer,
  key: string,
  options: StripeClientOptions = {},
): Stripe {
  const url = new URL(server.url);
  return new Stripe(key, {
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    maxNetworkRetries: options.maxNetworkRetries ?? 0,
    timeout: options.timeout ?? 5000,
    telemetry: false,
  });
}

type StripeSchemaName = 'paymentIntent' | 'refund' | 'event' | 'error' | 'eventList' | 'charge';
let validators: Record<StripeSchemaName, SchemaValidator> | undefined;

/** Validators compiled once per test file (the spec is 4 MB; compiling takes a second). */
export function stripeSchemas(): Record<StripeSchemaName, SchemaValidator> {
  validators ??= {
    paymentIntent: compileComponent(STRIPE_SPEC, 'payment_intent', {
      extraEnumValues: NEWER_ENUMS,
    }),
    refund: compileComponent(STRIPE_SPEC, 'refund', { extraEnumValues: NEWER_ENUMS }),
    charge: compileComponent(STRIPE_SPEC, 'charge', { extraEnumValues: NEWER_ENUMS }),
    event: compileComponent(STRIPE_SPEC, 'event', { extraEnumValues: NEWER_ENUMS }),
    error: compileComponent(STRIPE_SPEC, 'error', { extraEnumValues: NEWER_ENUMS }),
    eventList: compileResponse(STRIPE_SPEC, '/v1/events', 'get', 200, {
      extraEnumValues: NEWER_ENUMS,
    }),
  };
  return validators;
}

const requestBodyValidators = new Map<string, SchemaValidator>();

/** Maps a concrete request path to the spec's templated path. */
function specPath(path: string): string {
  return path
    .replace(/^\/v1\/payment_intents\/[^/]+/, '/v1/payment_intents/{intent}')
    .replace(/^\/v1\/refunds\/[^/]+/, '/v1/refunds/{refund}');
}

/**
 * Checks every form body the SDK sent (as the emulator recorded it) against the
 * spec's request schema for that operation; returns how many were checked.
 * Parameters newer than the 2022 spec (`allowed_payment_method_types`) are
 * tolerated; the emulator itself refuses names it does not know.
 */
export function assertRequestsMatchSpec(server: EmulatorServer): number {
  let checked = 0;
  for (const req of server.requests()) {
    if (req.method !== 'POST' || !req.path.startsWith('/v1/')) continue;
    const path = specPath(req.path);
    let validate = requestBodyValidators.get(path);
    if (!validate) {
      validate = compileRequestBody(STRIPE_SPEC, path, 'post', {
        coerceTypes: true,
        tolerateAdditional: true,
      });
      requestBodyValidators.set(path, validate);
    }
    validate.assert(parseForm(req.body), `POST ${req.path} body ${req.body}`);
    checked += 1;
  }
  return checked;
}

/** The JSON the SDK received: `lastResponse` is not enumerable, so this is the wire body. */
export function rawJson(resource: object): unknown {
  return JSON.parse(JSON.stringify(resource));
}

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A tiny webhook receiver: answers each POST with the next status of `statuses` (then 200). */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly server: http.Server;
  private statuses: number[] = [];

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const status = this.statuses.shift() ?? 200;
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ received: status < 300 }));
      });
    });
  }

  /** The statuses the next requests get, in order. */
  answerWith(...statuses: number[]): void {
    this.statuses = [...statuses];
  }

  clear(): void {
    this.received.length = 0;
    this.statuses = [];
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      this.server.close((err) => (err ? reject(err) : resolve())),
    );
  }
}
