import Joi from 'joi';

/** The environment as the contract (CONTRACT.md §1) names it; every value a string until validated. */
export type RawEnv = Record<string, string | undefined>;

const bool = () => Joi.boolean().truthy('1', 'yes', 'on').falsy('0', 'no', 'off');
const url = () => Joi.string().uri({ scheme: ['http', 'https'] });
const positiveInt = () => Joi.number().integer().min(1);

/**
 * Shape and type checks per variable. Cross-variable rules (production
 * requirements, partial credentials, live keys) live in app.config.ts, where
 * each failure can name its variable on its own line.
 */
export const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'test', 'production').default('development'),
  HOST: Joi.string().default('127.0.0.1'),
  PORT: Joi.number().integer().min(0).max(65535).default(3000),
  LOG_LEVEL: Joi.string()
    .valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')
    .default('info'),
  PUBLIC_BASE_URL: url(),
  TRUST_PROXY: bool().default(false),
  TLS_CERT_FILE: Joi.string(),
  TLS_KEY_FILE: Joi.string(),
  ENFORCE_HTTPS: bool(),
  API_KEYS: Joi.string(),
  DATABASE_URL: Joi.string()
    .pattern(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/)
    .message('must be sqlite:<path>, sqlite::memory: or postgres://…')
    .default('sqlite:./data/switchboard.db'),
  REDIS_URL: Joi.string().uri({ scheme: ['redis', 'rediss'] }),
  SANDBOX: bool(),
  RATE_LIMIT_PER_MINUTE: positiveInt().default(1200),
  WEBHOOK_TOLERANCE_SECONDS: Joi.number().integer().min(1).max(1_000_000_000).default(300),
  WEBHOOK_RETENTION_DAYS: Joi.number().integer().min(4).default(30),
  PROVIDER_TIMEOUT_MS: positiveInt().default(10_000),
  PROVIDER_MAX_RETRIES: Joi.number().integer().min(0).max(10).default(3),
  JOB_MAX_ATTEMPTS: positiveInt().default(10),
  JOB_BACKOFF_BASE_MS: positiveInt().default(1000),
  ALLOW_LIVE_KEYS: bool().default(false),
  STRIPE_API_KEY: Joi.string()
    .pattern(/^(sk_test_|sk_live_|rk_test_|rk_live_)\S+$/)
    .message('must start with sk_test_, sk_live_, rk_test_ or rk_live_'),
  STRIPE_WEBHOOK_SECRET: Joi.string()
    .pattern(/^whsec_\S+(,\s*whsec_\S+)*$/)
    .message('must be one or more comma-separated whsec_… secrets'),
  STRIPE_API_BASE_URL: url(),
  TWILIO_ACCOUNT_SID: Joi.string()
    .pattern(/^AC[0-9a-fA-F]{32}$/)
    .message('must be AC followed by 32 hex characters'),
  TWILIO_AUTH_TOKEN: Joi.string().length(32).message('must be 32 characters'),
  TWILIO_FROM_NUMBER: Joi.string()
    .pattern(/^\+[1-9]\d{6,14}$/)
    .message('must be an E.164 phone number'),
  TWILIO_MESSAGING_SERVICE_SID: Joi.string()
    .pattern(/^MG[0-9a-fA-F]{32}$/)
    .message('must be MG followed by 32 hex characters'),
  TWILIO_API_BASE_URL: url(),
  SENDGRID_API_KEY: Joi.string()
    .pattern(/^SG\.\S+$/)
    .message('must start with SG.'),
  SENDGRID_FROM_EMAIL: Joi.string().email({ tlds: { allow: false } }),
  SENDGRID_WEBHOOK_PUBLIC_KEY: Joi.string(),
  SENDGRID_API_BASE_URL: url(),
  STRIPE_MAX_RPS: positiveInt().default(25),
  TWILIO_MAX_RPS: positiveInt().default(10),
  SENDGRID_MAX_RPS: positiveInt().default(10),
})
  // Variables we do not know (PATH, HOME, …) are the machine's business, not ours.
  .unknown(true)
  .prefs({ abortEarly: false, convert: true, errors: { wrap: { label: false } } });
