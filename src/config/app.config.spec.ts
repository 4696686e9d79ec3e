import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadAppConfig } from './app.config';

const KEY = 'a-secret-that-is-long-enough-000';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadAppConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe(loadAppConfig.name, () => {
  it('starts on embedded defaults in development, with a generated key and sandbox on', () => {
    const sut = loadAppConfig({}, { generateKey: () => 'generated' });
    expect(sut.env).toBe('development');
    expect(sut.database.url).toBe('sqlite:./data/switchboard.db');
    expect(sut.http.publicBaseUrl).toBe('http://127.0.0.1:3000');
    expect(sut.auth.generatedKey).toEqual({
      name: 'development',
      secret: 'generated',
      scopes: ['payments', 'sms', 'emails', 'admin'],
    });
    expect(sut.sandbox).toBe(true);
    expect(sut.redis.url).toBeUndefined();
  });

  it('names every missing production variable on its own line, never a value', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^PUBLIC_BASE_URL: /),
        expect.stringMatching(/^API_KEYS: /),
        expect.stringMatching(/^ENFORCE_HTTPS: /),
      ]),
    );
  });

  it('reports type errors by name without echoing the value', () => {
    const problems = problemsOf({
      PORT: 'secret-port-value',
      WEBHOOK_RETENTION_DAYS: '2',
      WEBHOOK_TOLERANCE_SECONDS: '0',
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).not.toContain('secret-port-value');
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'PORT',
      'WEBHOOK_RETENTION_DAYS',
      'WEBHOOK_TOLERANCE_SECONDS',
    ]);
  });

  it('parses API keys and rejects short secrets and unknown scopes without printing them', () => {
    const sut = loadAppConfig({ API_KEYS: `billing:${KEY}:payments+admin` });
    expect(sut.auth.apiKeys).toEqual([
      { name: 'billing', secret: KEY, scopes: ['payments', 'admin'] },
    ]);
    const problems = problemsOf({
      API_KEYS: 'a:tiny-Zq9:payments,b:another-secret-long-enough-00:root',
    });
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).not.toMatch(/tiny-Zq9|another-secret/);
  });

  it('never prints a secret written where the name belongs, and refuses unusable or shared secrets', () => {
    const swapped = problemsOf({ API_KEYS: 'S3cretS3cretS3cretS3cret99:short:payments' });
    expect(swapped).toEqual(['API_KEYS: entry 1 has a secret shorter than 24 characters']);

    expect(problemsOf({ API_KEYS: `a:${KEY}:payments,b:${KEY}:admin` })).toEqual([
      'API_KEYS: entry 2 has the same secret as another key',
    ]);
    expect(problemsOf({ API_KEYS: `a: ${KEY} :payments` })).toEqual([
      'API_KEYS: entry 1 has a secret with white space (no bearer token can carry it)',
    ]);
    expect(problemsOf({ API_KEYS: `a:${KEY}:payments,a:${KEY}x:admin` })).toEqual([
      'API_KEYS: entry 2 repeats a name',
    ]);
  });

  it('fails when a provider is only partly configured, naming what is missing', () => {
    const problems = problemsOf({
      STRIPE_API_KEY: 'sk_test_abc',
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^STRIPE_WEBHOOK_SECRET: /),
        expect.stringMatching(/^TWILIO_AUTH_TOKEN: /),
        expect.stringMatching(/^TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID: /),
      ]),
    );
  });

  it('enables a fully configured provider and turns the sandbox default off', () => {
    const sut = loadAppConfig({
      STRIPE_API_KEY: 'sk_test_abc',
      STRIPE_WEBHOOK_SECRET: 'whsec_a, whsec_b',
    });
    expect(sut.stripe.enabled).toBe(true);
    expect(sut.stripe.webhookSecrets).toEqual(['whsec_a', 'whsec_b']);
    expect(sut.twilio.enabled).toBe(false);
    expect(sut.sandbox).toBe(false);
  });

  it('refuses live keys outside production, always under test', () => {
    const live = { STRIPE_API_KEY: 'sk_live_abc', STRIPE_WEBHOOK_SECRET: 'whsec_a' };
    expect(problemsOf(live)).toEqual([expect.stringMatching(/^STRIPE_API_KEY: .*ALLOW_LIVE_KEYS/)]);
    expect(problemsOf({ ...live, ALLOW_LIVE_KEYS: 'true' })).toEqual([]);
    expect(problemsOf({ ...live, ALLOW_LIVE_KEYS: 'true', NODE_ENV: 'test' })).toEqual([
      expect.stringMatching(/^STRIPE_API_KEY: /),
    ]);
  });

  it('refuses the sandbox in production', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      SANDBOX: 'true',
      API_KEYS: `ops:${KEY}:admin`,
      PUBLIC_BASE_URL: 'https://sb.example.com',
      TRUST_PROXY: 'true',
    });
    expect(problems).toEqual(['SANDBOX: not allowed in production']);
  });

  it('normalises the public base URL and requires https in production', () => {
    expect(loadAppConfig({ PUBLIC_BASE_URL: 'https://x.example.com/sb/' }).http.publicBaseUrl).toBe(
      'https://x.example.com/sb',
    );
    expect(
      problemsOf({
        NODE_ENV: 'production',
        PUBLIC_BASE_URL: 'http://x.example.com',
        API_KEYS: `ops:${KEY}:admin`,
        TRUST_PROXY: 'true',
      }),
    ).toEqual(['PUBLIC_BASE_URL: must be https:// in production']);
  });

  it('accepts the SendGrid key as base64 DER or PEM and rejects other keys', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const base = { SENDGRID_API_KEY: 'SG.a.b', SENDGRID_FROM_EMAIL: 'noreply@example.com' };
    expect(
      loadAppConfig({ ...base, SENDGRID_WEBHOOK_PUBLIC_KEY: der }).sendgrid.webhookPublicKey,
    ).toBe(der);
    expect(
      loadAppConfig({ ...base, SENDGRID_WEBHOOK_PUBLIC_KEY: pem }).sendgrid.webhookPublicKey,
    ).toBe(der);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64');
    expect(problemsOf({ ...base, SENDGRID_WEBHOOK_PUBLIC_KEY: rsa })).toEqual([
      expect.stringMatching(/^SENDGRID_WEBHOOK_PUBLIC_KEY: /),
    ]);
  });
});
