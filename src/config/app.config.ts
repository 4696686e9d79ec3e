import { createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { envSchema, RawEnv } from './env.schema';

export type NodeEnv = 'development' | 'test' | 'production';
export type Scope = 'payments' | 'sms' | 'emails' | 'admin';
export const SCOPES: readonly Scope[] = ['payments', 'sms', 'emails', 'admin'];
export type ProviderId = 'stripe' | 'twilio' | 'sendgrid';

export interface ApiKeyConfig {
  name: string;
  secret: string;
  scopes: Scope[];
}

export interface StripeConfig {
  enabled: boolean;
  apiKey?: string;
  webhookSecrets: string[];
  apiBaseUrl?: string;
  maxRps: number;
}

export interface TwilioConfig {
  enabled: boolean;
  accountSid?: string;
  authToken?: string;
  fromNumber?: string;
  messagingServiceSid?: string;
  apiBaseUrl?: string;
  maxRps: number;
}

export interface SendgridConfig {
  enabled: boolean;
  apiKey?: string;
  fromEmail?: string;
  /** The Event Webhook verification key, normalised to base64 DER SPKI. */
  webhookPublicKey?: string;
  apiBaseUrl?: string;
  maxRps: number;
}

/** The validated configuration, in namespaces. Built once by {@link loadAppConfig}. */
export interface AppConfig {
  env: NodeEnv;
  http: {
    host: string;
    port: number;
    publicBaseUrl: string;
    trustProxy: boolean;
    tls?: { cert: Buffer; key: Buffer };
    enforceHttps: boolean;
  };
  log: { level: string };
  auth: {
    apiKeys: ApiKeyConfig[];
    /** Set when the key was generated for development because API_KEYS was unset. */
    generatedKey?: ApiKeyConfig;
    rateLimitPerMinute: number;
  };
  database: { url: string };
  redis: { url?: string };
  sandbox: boolean;
  webhooks: { toleranceSeconds: number; retentionDays: number };
  providers: { timeoutMs: number; maxRetries: number };
  jobs: { maxAttempts: number; backoffBaseMs: number };
  stripe: StripeConfig;
  twilio: TwilioConfig;
  sendgrid: SendgridConfig;
}

/** Thrown when the environment is invalid; each line names a variable, never a value. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const CREDENTIALS: Record<ProviderId, string[]> = {
  stripe: ['STRIPE_API_KEY', 'STRIPE_WEBHOOK_SECRET'],
  twilio: [
    'TWILIO_ACCOUNT_SID',
    'TWILIO_AUTH_TOKEN',
    'TWILIO_FROM_NUMBER|TWILIO_MESSAGING_SERVICE_SID',
  ],
  sendgrid: ['SENDGRID_API_KEY', 'SENDGRID_FROM_EMAIL', 'SENDGRID_WEBHOOK_PUBLIC_KEY'],
};

interface Validated {
  NODE_ENV: NodeEnv;
  HOST: string;
  PORT: number;
  LOG_LEVEL: string;
  PUBLIC_BASE_URL?: string;
  TRUST_PROXY: boolean;
  TLS_CERT_FILE?: string;
  TLS_KEY_FILE?: string;
  ENFORCE_HTTPS?: boolean;
  API_KEYS?: string;
  DATABASE_URL: string;
  REDIS_URL?: string;
  SANDBOX?: boolean;
  RATE_LIMIT_PER_MINUTE: number;
  WEBHOOK_TOLERANCE_SECONDS: number;
  WEBHOOK_RETENTION_DAYS: number;
  PROVIDER_TIMEOUT_MS: number;
  PROVIDER_MAX_RETRIES: number;
  JOB_MAX_ATTEMPTS: number;
  JOB_BACKOFF_BASE_MS: number;
  ALLOW_LIVE_KEYS: boolean;
  STRIPE_API_KEY?: string;
  STRIPE_WEBHOOK_SECRET?: string;
  STRIPE_API_BASE_URL?: string;
  TWILIO_ACCOUNT_SID?: string;
  TWILIO_AUTH_TOKEN?: string;
  TWILIO_FROM_NUMBER?: string;
  TWILIO_MESSAGING_SERVICE_SID?: string;
  TWILIO_API_BASE_URL?: string;
  SENDGRID_API_KEY?: string;
  SENDGRID_FROM_EMAIL?: string;
  SENDGRID_WEBHOOK_PUBLIC_KEY?: string;
  SENDGRID_API_BASE_URL?: string;
  STRIPE_MAX_RPS: number;
  TWILIO_MAX_RPS: number;
  SENDGRID_MAX_RPS: number;
}

/** Empty strings count as unset, as in most .env tooling. */
function clean(raw: RawEnv): RawEnv {
  const out: RawEnv = {};
  for (const [k, v] of Object.entries(raw))
    if (v !== undefined && v.trim() !== '') out[k] = v.trim();
  return out;
}

function isSet(v: Validated, name: string): boolean {
  return name.split('|').some((n) => v[n as keyof Validated] !== undefined);
}

function parseApiKeys(spec: string, problems: string[]): ApiKeyConfig[] {
  const keys: ApiKeyConfig[] = [];
  const names = new Set<string>();
  const secrets = new Set<string>();
  spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .forEach((entry, i) => {
      const parts = entry.split(':');
      const where = `API_KEYS: entry ${i + 1}`;
      if (parts.length !== 3) {
        problems.push(`${where} must be name:secret:scope+scope`);
        return;
      }
      const [name, secret, scopeList] = parts;
      // Entries are named by position only: fields in the wrong order would print a secret
      // as the "name" (a secret passes the name rule too).
      const validName = /^[A-Za-z0-9_.-]{1,64}$/.test(name);
      if (!validName) problems.push(`${where} has an invalid name (1–64 of A-Z a-z 0-9 _ . -)`);
      if (validName && names.has(name)) problems.push(`${where} repeats a name`);
      names.add(name);
      if (secret.length < 24) problems.push(`${where} has a secret shorter than 24 characters`);
      if (/\s/.test(secret))
        problems.push(`${where} has a secret with white space (no bearer token can carry it)`);
      // Two names with one secret: the key would always authenticate as the last of them.
      if (secrets.has(secret)) problems.push(`${where} has the same secret as another key`);
      secrets.add(secret);
      const scopes = scopeList.split('+').map((s) => s.trim());
      const unknown = scopes.filter((s) => !SCOPES.includes(s as Scope));
      if (unknown.length > 0 || scopes.length === 0) {
        problems.push(`${where} has an unknown scope; allowed: ${SCOPES.join(', ')}`);
      }
      keys.push({ name, secret, scopes: [...new Set(scopes)] as Scope[] });
    });
  if (keys.length === 0) problems.push('API_KEYS: must list at least one key');
  return keys;
}

/** Accepts base64 DER SPKI or PEM and returns base64 DER SPKI of a P-256 key; undefined if unusable. */
export function normaliseEcPublicKey(value: string): string | undefined {
  try {
    const key = value.includes('-----BEGIN')
      ? createPublicKey(value)
      : createPublicKey({ key: Buffer.from(value, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      return undefined;
    return key.export({ format: 'der', type: 'spki' }).toString('base64');
  } catch {
    return undefined;
  }
}

function readPem(name: string, path: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    problems.push(`${name}: cannot read the file`);
    return undefined;
  }
}

/**
 * Validates the environment (CONTRACT.md §1) and builds the typed configuration.
 * Throws {@link ConfigError} listing every problem, one per line.
 */
export function loadAppConfig(
  rawEnv: RawEnv,
  opts: { generateKey?: () => string } = {},
): AppConfig {
  const raw = clean(rawEnv);
  const result = envSchema.validate(raw) as {
    value: unknown;
    error?: { details: { path: (string | number)[]; message: string }[] };
  };
  const { value, error } = result;
  const problems: string[] = [];
  for (const d of error?.details ?? []) {
    const name = d.path.join('.');
    problems.push(`${name}: ${d.message.replace(/^"?[A-Z0-9_.]+"? /, '')}`);
  }
  const v = value as Validated;
  const env = v.NODE_ENV ?? 'development';
  const production = env === 'production';

  // Providers: all credentials, none, or a start-up failure naming what is missing.
  const configured: Record<ProviderId, boolean> = { stripe: false, twilio: false, sendgrid: false };
  let anyCredential = false;
  for (const provider of Object.keys(CREDENTIALS) as ProviderId[]) {
    const names = CREDENTIALS[provider];
    const set = names.filter((n) => isSet(v, n));
    if (set.length > 0) anyCredential = true;
    if (set.length === names.length) configured[provider] = true;
    else if (set.length > 0) {
      for (const missing of names.filter((n) => !isSet(v, n))) {
        problems.push(
          `${missing.replace('|', ' or ')}: required when other ${provider} credentials are set`,
        );
      }
    }
  }

  const sandbox = v.SANDBOX ?? (env === 'development' && !anyCredential);
  if (sandbox && production) problems.push('SANDBOX: not allowed in production');

  // Live keys.
  for (const name of ['STRIPE_API_KEY'] as const) {
    const key = v[name];
    if (key && /^(sk|rk)_live_/.test(key) && !production) {
      if (env === 'test') problems.push(`${name}: live keys are refused under NODE_ENV=test`);
      else if (!v.ALLOW_LIVE_KEYS)
        problems.push(
          `${name}: live keys are refused outside production unless ALLOW_LIVE_KEYS=true`,
        );
    }
  }

  // HTTP and TLS.
  const port = v.PORT ?? 3000;
  if (production && !v.PUBLIC_BASE_URL) problems.push('PUBLIC_BASE_URL: required in production');
  if (production && v.PUBLIC_BASE_URL && !v.PUBLIC_BASE_URL.startsWith('https://')) {
    problems.push('PUBLIC_BASE_URL: must be https:// in production');
  }
  if (v.PUBLIC_BASE_URL && /[?#]/.test(v.PUBLIC_BASE_URL)) {
    problems.push(
      'PUBLIC_BASE_URL: must be an origin and optional path, without query or fragment',
    );
  }
  const publicBaseUrl = (
    v.PUBLIC_BASE_URL ??
    `http://${v.HOST === '0.0.0.0' ? '127.0.0.1' : (v.HOST ?? '127.0.0.1')}:${port}`
  ).replace(/\/+$/, '');
  if ((v.TLS_CERT_FILE === undefined) !== (v.TLS_KEY_FILE === undefined)) {
    problems.push(
      `${v.TLS_CERT_FILE ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'}: required when the other TLS file is set`,
    );
  }
  let tls: AppConfig['http']['tls'];
  if (v.TLS_CERT_FILE && v.TLS_KEY_FILE) {
    const cert = readPem('TLS_CERT_FILE', v.TLS_CERT_FILE, problems);
    const key = readPem('TLS_KEY_FILE', v.TLS_KEY_FILE, problems);
    if (cert && key) tls = { cert, key };
  }
  const enforceHttps = v.ENFORCE_HTTPS ?? production;
  if (production && enforceHttps && !v.TRUST_PROXY && !(v.TLS_CERT_FILE && v.TLS_KEY_FILE)) {
    problems.push(
      'ENFORCE_HTTPS: on in production requires TRUST_PROXY=true or TLS_CERT_FILE and TLS_KEY_FILE',
    );
  }

  // API keys.
  let apiKeys: ApiKeyConfig[] = [];
  let generatedKey: ApiKeyConfig | undefined;
  if (v.API_KEYS) apiKeys = parseApiKeys(v.API_KEYS, problems);
  else if (production) problems.push('API_KEYS: required in production');
  else {
    const secret = opts.generateKey?.() ?? `sb_dev_${randomBytes(24).toString('base64url')}`;
    generatedKey = { name: 'development', secret, scopes: [...SCOPES] };
    apiKeys = [generatedKey];
  }

  // SendGrid's verification key.
  let webhookPublicKey: string | undefined;
  if (v.SENDGRID_WEBHOOK_PUBLIC_KEY) {
    webhookPublicKey = normaliseEcPublicKey(v.SENDGRID_WEBHOOK_PUBLIC_KEY);
    if (!webhookPublicKey) {
      problems.push(
        'SENDGRID_WEBHOOK_PUBLIC_KEY: must be an ECDSA P-256 public key, base64 DER (SPKI) or PEM',
      );
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    env,
    http: { host: v.HOST, port, publicBaseUrl, trustProxy: v.TRUST_PROXY, tls, enforceHttps },
    log: { level: v.LOG_LEVEL },
    auth: { apiKeys, generatedKey, rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE },
    database: { url: v.DATABASE_URL },
    redis: { url: v.REDIS_URL },
    sandbox,
    webhooks: {
      toleranceSeconds: v.WEBHOOK_TOLERANCE_SECONDS,
      retentionDays: v.WEBHOOK_RETENTION_DAYS,
    },
    providers: { timeoutMs: v.PROVIDER_TIMEOUT_MS, maxRetries: v.PROVIDER_MAX_RETRIES },
    jobs: { maxAttempts: v.JOB_MAX_ATTEMPTS, backoffBaseMs: v.JOB_BACKOFF_BASE_MS },
    stripe: {
      enabled: configured.stripe,
      apiKey: v.STRIPE_API_KEY,
      webhookSecrets: (v.STRIPE_WEBHOOK_SECRET ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      apiBaseUrl: v.STRIPE_API_BASE_URL,
      maxRps: v.STRIPE_MAX_RPS,
    },
    twilio: {
      enabled: configured.twilio,
      accountSid: v.TWILIO_ACCOUNT_SID,
      authToken: v.TWILIO_AUTH_TOKEN,
      fromNumber: v.TWILIO_FROM_NUMBER,
      messagingServiceSid: v.TWILIO_MESSAGING_SERVICE_SID,
      apiBaseUrl: v.TWILIO_API_BASE_URL,
      maxRps: v.TWILIO_MAX_RPS,
    },
    sendgrid: {
      enabled: configured.sendgrid,
      apiKey: v.SENDGRID_API_KEY,
      fromEmail: v.SENDGRID_FROM_EMAIL,
      webhookPublicKey,
      apiBaseUrl: v.SENDGRID_API_BASE_URL,
      maxRps: v.SENDGRID_MAX_RPS,
    },
  };
}
