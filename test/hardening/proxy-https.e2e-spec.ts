import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import twilio from 'twilio';
import { bearer, KEYS, startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { newEventWebhookKeyPair } from '../email/email-test-app';
import {
  signedDelivery as signedWebhookDelivery,
  type WebhookSigningKeys,
} from '../helpers/signed-webhooks';

const STRIPE_WEBHOOK_SECRET = 'whsec_proxyHttpsTest0000000000000000';
const TWILIO_AUTH_TOKEN = 'prox'.repeat(8);
const PUBLIC_BASE_URL = 'https://hooks.example.test/switchboard';
const sendgridKeys = newEventWebhookKeyPair();

/** All three providers configured (nothing outbound is called here: only webhooks arrive). */
const PROVIDER_ENV = {
  STRIPE_API_KEY: 'sk_test_proxyHttps0000000000000000',
  STRIPE_WEBHOOK_SECRET,
  STRIPE_API_BASE_URL: 'http://127.0.0.1:9',
  TWILIO_ACCOUNT_SID: `AC${'ab'.repeat(16)}`,
  TWILIO_AUTH_TOKEN,
  TWILIO_FROM_NUMBER: '+15005550006',
  TWILIO_API_BASE_URL: 'http://127.0.0.1:9',
  SENDGRID_API_KEY: 'SG.proxy-https.0123456789',
  SENDGRID_FROM_EMAIL: 'noreply@example.test',
  SENDGRID_WEBHOOK_PUBLIC_KEY: sendgridKeys.publicKeyBase64,
  SENDGRID_API_BASE_URL: 'http://127.0.0.1:9',
};

/** What helmet adds to every response, whatever its status. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-dns-prefetch-control': 'off',
  'x-permitted-cross-domain-policies': 'none',
};

type Inject = TestApp['app']['inject'];
type Response = Awaited<ReturnType<Inject>>;
type Provider = 'stripe' | 'twilio' | 'sendgrid';

let seq = 0;

const SIGNING_KEYS: WebhookSigningKeys = {
  stripeWebhookSecret: STRIPE_WEBHOOK_SECRET,
  twilioAuthToken: TWILIO_AUTH_TOKEN,
  publicBaseUrl: PUBLIC_BASE_URL,
  sendgridPrivateKey: sendgridKeys.privateKey,
};

/** A correctly signed webhook of `provider`, as the provider would post it to PUBLIC_BASE_URL. */
function signedDelivery(provider: Provider): Parameters<Inject>[0] & object {
  seq += 1;
  return signedWebhookDelivery(provider, SIGNING_KEYS, `proxy_${seq}`);
}

/** The same delivery as received from the proxy in front: `X-Forwarded-*` added, `Host` the internal one. */
function forwarded(delivery: Parameters<Inject>[0] & object, proto: string): Parameters<Inject>[0] {
  return {
    ...delivery,
    headers: {
      ...(delivery.headers as Record<string, string>),
      host: '10.0.0.7:3000',
      'x-forwarded-proto': proto,
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'hooks.example.test',
    },
  };
}

async function storedCount(sut: TestApp): Promise<number> {
  const res = await sut.app.inject({
    method: 'GET',
    url: '/webhook-events?limit=100',
    headers: bearer(KEYS.admin),
  });
  expect(res.statusCode).toBe(200);
  return (res.json().data as unknown[]).length;
}

function expectSecurityHeaders(res: Response): void {
  expect(res.headers).toMatchObject(SECURITY_HEADERS);
  expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  expect(res.headers['x-powered-by']).toBeUndefined();
}

describe('Behind a TLS-terminating proxy (TRUST_PROXY and ENFORCE_HTTPS on)', () => {
  let database: TestDatabase;
  let sut: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({
      env: {
        ...PROVIDER_ENV,
        DATABASE_URL: database.url,
        PUBLIC_BASE_URL,
        TRUST_PROXY: 'true',
        ENFORCE_HTTPS: 'true',
      },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it.each(['stripe', 'twilio', 'sendgrid'] as const)(
    'refuses a %s webhook forwarded as plain HTTP with 403 https_required and stores nothing',
    async (provider) => {
      const before = await storedCount(sut);
      const res = await sut.app.inject(forwarded(signedDelivery(provider), 'http'));

      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ statusCode: 403, code: 'https_required' });
      expect(res.headers['x-request-id']).toBeDefined();
      expect(res.headers['strict-transport-security']).toBeUndefined();
      expectSecurityHeaders(res);
      expect(await storedCount(sut)).toBe(before);
    },
  );

  it.each(['stripe', 'twilio', 'sendgrid'] as const)(
    'accepts a %s webhook forwarded as HTTPS, its signature checked against PUBLIC_BASE_URL',
    async (provider) => {
      const before = await storedCount(sut);
      const res = await sut.app.inject(forwarded(signedDelivery(provider), 'https'));

      expect(res.statusCode).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expectSecurityHeaders(res);
      expect(await storedCount(sut)).toBe(before + 1);
    },
  );

  it('takes the last hop of X-Forwarded-Proto: the proxy in front, not what the client claimed', async () => {
    const res = await sut.app.inject(forwarded(signedDelivery('stripe'), 'https, http'));
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('https_required');
  });

  it('refuses a Twilio webhook signed for the internal URL the proxy forwarded to', async () => {
    const params = { MessageSid: `SM${'9'.repeat(32)}`, MessageStatus: 'sent' };
    const internal = twilio.getExpectedTwilioSignature(
      TWILIO_AUTH_TOKEN,
      'http://10.0.0.7:3000/webhooks/twilio',
      params,
    );
    const res = await sut.app.inject(
      forwarded(
        {
          method: 'POST',
          url: '/webhooks/twilio',
          payload: new URLSearchParams(params).toString(),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-twilio-signature': internal,
          },
        },
        'https',
      ),
    );
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('invalid_signature');
    expectSecurityHeaders(res);
  });

  it('puts the security headers and HSTS on every HTTPS response: success, client errors and Fastify errors', async () => {
    const https = { 'x-forwarded-proto': 'https' };
    const responses = await Promise.all([
      sut.app.inject({ method: 'GET', url: '/health/live', headers: https }),
      sut.app.inject({ method: 'GET', url: '/payments', headers: https }),
      sut.app.inject({
        method: 'GET',
        url: '/payments',
        headers: { ...https, ...bearer(KEYS.sms) },
      }),
      sut.app.inject({ method: 'GET', url: '/no/such/route', headers: https }),
      sut.app.inject({
        method: 'POST',
        url: '/payments',
        payload: '{"amount": ',
        headers: { ...https, ...bearer(KEYS.all), 'content-type': 'application/json' },
      }),
      sut.app.inject({
        method: 'POST',
        url: '/payments',
        payload: 'amount=1',
        headers: { ...https, ...bearer(KEYS.all), 'content-type': 'text/plain' },
      }),
      sut.app.inject({
        method: 'POST',
        url: '/webhooks/stripe',
        payload: '{}',
        headers: { ...https, 'content-type': 'application/json', 'stripe-signature': 't=1,v1=0' },
      }),
    ]);
    expect(responses.map((r) => r.statusCode)).toEqual([200, 401, 403, 404, 400, 415, 400]);
    for (const res of responses) {
      expectSecurityHeaders(res);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    }
  });
});

describe('TRUST_PROXY off, ENFORCE_HTTPS on', () => {
  let database: TestDatabase;
  let sut: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({
      env: { ...PROVIDER_ENV, DATABASE_URL: database.url, PUBLIC_BASE_URL, ENFORCE_HTTPS: 'true' },
    });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it('ignores X-Forwarded-Proto: a plain HTTP connection claiming HTTPS is refused', async () => {
    const res = await sut.app.inject(forwarded(signedDelivery('stripe'), 'https'));
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('https_required');
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('ENFORCE_HTTPS off (development and test default)', () => {
  let database: TestDatabase;
  let sut: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({ env: { ...PROVIDER_ENV, DATABASE_URL: database.url } });
  });
  afterAll(async () => {
    await sut?.close();
    await database?.drop();
  });

  it('accepts webhooks over plain HTTP and sends no HSTS', async () => {
    // Signed for the default PUBLIC_BASE_URL, since this app has none of its own.
    const params = { MessageSid: `SM${'7'.repeat(32)}`, MessageStatus: 'sent' };
    const res = await sut.app.inject({
      method: 'POST',
      url: '/webhooks/twilio',
      payload: new URLSearchParams(params).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(
          TWILIO_AUTH_TOKEN,
          `${sut.config.http.publicBaseUrl}/webhooks/twilio`,
          params,
        ),
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['strict-transport-security']).toBeUndefined();
    expectSecurityHeaders(res);
  });

  it('serves the Swagger UI under a CSP it works with: every script from this origin, inline styles allowed', async () => {
    const page = await sut.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expectSecurityHeaders(page);
    const csp = Object.fromEntries(
      String(page.headers['content-security-policy'])
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values]),
    ) as Record<string, string[] | undefined>;
    // Over plain HTTP, upgrade-insecure-requests would send the browser to https:// for every asset.
    expect(csp['upgrade-insecure-requests']).toBeUndefined();
    expect(csp['script-src']).toEqual(["'self'"]);
    expect(csp['style-src']).toEqual(expect.arrayContaining(["'self'", "'unsafe-inline'"]));

    // No inline script (script-src 'self' would block it); every asset loads from here.
    const scripts = [...page.body.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    const assets = [
      ...scripts.map((attrs) => /src="([^"]+)"/.exec(attrs)?.[1]),
      ...[...page.body.matchAll(/<link[^>]*href="([^"]+)"/g)].map((m) => m[1]),
    ];
    for (const src of assets) {
      expect(src).toMatch(/^\.\//);
      const asset = await sut.app.inject({ method: 'GET', url: `/docs/${src?.slice(2)}` });
      expect({ src, status: asset.statusCode }).toEqual({ src, status: 200 });
      expectSecurityHeaders(asset);
    }
    // The UI then fetches the document from the same origin (default-src 'self').
    const init = await sut.app.inject({ method: 'GET', url: '/docs/swagger-ui-init.js' });
    expect(init.body).not.toMatch(/https?:\/\//);
    const spec = await sut.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    expect(spec.statusCode).toBe(200);
    expect(spec.json().openapi).toMatch(/^3\./);
  });
});

const opensslMissing = spawnSync('openssl', ['version']).error !== undefined;
if (opensslMissing)
  process.stdout.write('TLS suite skipped: no openssl to make a test certificate\n');

(opensslMissing ? describe.skip : describe)(
  'HTTPS served directly (TLS_CERT_FILE / TLS_KEY_FILE)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-tls-'));
    let database: TestDatabase;
    let sut: TestApp;
    let cert: Buffer;
    let port: number;

    beforeAll(async () => {
      // A throwaway self-signed certificate for 127.0.0.1, made for this run only.
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      cert = readFileSync(join(dir, 'cert.pem'));
      database = await createTestDatabase();
      sut = await startTestApp({
        env: {
          ...PROVIDER_ENV,
          DATABASE_URL: database.url,
          PUBLIC_BASE_URL,
          ENFORCE_HTTPS: 'true',
          TLS_CERT_FILE: join(dir, 'cert.pem'),
          TLS_KEY_FILE: join(dir, 'key.pem'),
        },
        listen: true,
      });
      port = Number(new URL(sut.url ?? '').port);
    });
    afterAll(async () => {
      await sut?.close();
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A request over a real TLS connection, trusting only the test certificate. */
    function overTls(
      delivery: Parameters<Inject>[0] & object,
    ): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
      return new Promise((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            method: delivery.method,
            path: delivery.url as string,
            headers: delivery.headers as Record<string, string>,
            ca: cert,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString(),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(delivery.payload as string);
      });
    }

    it('accepts webhooks on its own TLS connection, whatever X-Forwarded-Proto says, with HSTS', async () => {
      const delivery = signedDelivery('stripe');
      const res = await overTls({
        ...delivery,
        headers: { ...(delivery.headers as Record<string, string>), 'x-forwarded-proto': 'http' },
      });
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers).toMatchObject(SECURITY_HEADERS);
    });
  },
);
