import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { EmulatorServer } from './core/emulator-server';
import type { FaultOptions, ProviderName, WebhookDeliveryOptions } from './core/types';
import { createSendgridEmulator } from './sendgrid/sendgrid.emulator';
import { randomAlphanumeric } from './stripe/stripe-ids';
import { StripeEmulator } from './stripe/stripe.emulator';
import { createTwilioEmulator } from './twilio/twilio.emulator';

/** Twilio's documented test sender: the only `From` its test credentials accept. */
export const SANDBOX_TWILIO_FROM = '+15005550006';
export const SANDBOX_SENDGRID_FROM = 'switchboard@example.com';

export interface SandboxCredentials {
  stripe: { secretKey: string; webhookSecret: string };
  twilio: { accountSid: string; authToken: string; fromNumber: string };
  /** `webhookPublicKey`: the Event Webhook verification key, base64 DER (SPKI), as SendGrid shows it. */
  sendgrid: { apiKey: string; fromEmail: string; webhookPublicKey: string };
}

export interface SandboxOptions {
  /**
   * The app's public base URL: Stripe and SendGrid events go to
   * `${webhookBaseUrl}/webhooks/stripe|sendgrid`; `webhookUrls.twilio` is the
   * `StatusCallback` to give Twilio. Absent: events are only stored.
   */
  webhookBaseUrl?: string;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Ports per emulator; absent or 0: a free port. */
  ports?: Partial<Record<ProviderName, number>>;
  faults?: Partial<Record<ProviderName, FaultOptions>>;
  delivery?: WebhookDeliveryOptions;
  random?: () => number;
  /** Fixed credentials; whatever is absent is generated. */
  credentials?: {
    stripe?: Partial<SandboxCredentials['stripe']>;
    twilio?: Partial<SandboxCredentials['twilio']>;
    sendgrid?: Partial<Omit<SandboxCredentials['sendgrid'], 'webhookPublicKey'>>;
  };
  /** The SendGrid Event Webhook signing key (P-256); generated when absent. */
  sendgridPrivateKey?: KeyObject;
  /** Delays between simulated status steps (Twilio callbacks, SendGrid events), ms. */
  twilioCallbackDelayMs?: number;
  sendgridEventDelayMs?: number;
}

export interface SandboxEmulators {
  stripe: StripeEmulator;
  twilio: ReturnType<typeof createTwilioEmulator>;
  sendgrid: ReturnType<typeof createSendgridEmulator>;
}

export interface Sandbox {
  urls: Record<ProviderName, string>;
  /** Where each provider's webhooks go; undefined without a `webhookBaseUrl`. */
  webhookUrls: Record<ProviderName, string> | undefined;
  credentials: SandboxCredentials;
  servers: Record<ProviderName, EmulatorServer>;
  emulators: SandboxEmulators;
  /** The service's environment variables (CONTRACT.md) that point it at this sandbox. */
  env(): Record<string, string>;
  /** Re-points the webhooks, e.g. once the app listens and knows its port; undefined: none. */
  setWebhookBaseUrl(url: string | undefined): void;
  /** Stops all three; safe to call twice. */
  stop(): Promise<void>;
}

const PROVIDERS: readonly ProviderName[] = ['stripe', 'twilio', 'sendgrid'];

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function webhookUrlsFor(base: string | undefined): Record<ProviderName, string> | undefined {
  if (base === undefined) return undefined;
  const root = base.replace(/\/+$/, '');
  return {
    stripe: `${root}/webhooks/stripe`,
    twilio: `${root}/webhooks/twilio`,
    sendgrid: `${root}/webhooks/sendgrid`,
  };
}

/** Credentials shaped like the providers' own; nothing here is a real secret. */
export function generateSandboxCredentials(given: SandboxOptions['credentials'] = {}): {
  stripe: SandboxCredentials['stripe'];
  twilio: SandboxCredentials['twilio'];
  sendgrid: Omit<SandboxCredentials['sendgrid'], 'webhookPublicKey'>;
} {
  return {
    stripe: {
      secretKey: given.stripe?.secretKey ?? `sk_test_${randomAlphanumeric(32)}`,
      webhookSecret: given.stripe?.webhookSecret ?? `whsec_${randomAlphanumeric(32)}`,
    },
    twilio: {
      accountSid: given.twilio?.accountSid ?? `AC${hex(16)}`,
      authToken: given.twilio?.authToken ?? hex(16),
      fromNumber: given.twilio?.fromNumber ?? SANDBOX_TWILIO_FROM,
    },
    sendgrid: {
      apiKey: given.sendgrid?.apiKey ?? `SG.${randomAlphanumeric(22)}.${randomAlphanumeric(43)}`,
      fromEmail: given.sendgrid?.fromEmail ?? SANDBOX_SENDGRID_FROM,
    },
  };
}

/** Starts the Stripe, Twilio and SendGrid emulators with generated credentials. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const generated = generateSandboxCredentials(options.credentials);
  const sendgridKey =
    options.sendgridPrivateKey ??
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  let webhookUrls = webhookUrlsFor(options.webhookBaseUrl);

  const emulators: SandboxEmulators = {
    stripe: new StripeEmulator({
      secretKey: generated.stripe.secretKey,
      webhookSecret: generated.stripe.webhookSecret,
      webhookUrl: webhookUrls?.stripe,
    }),
    twilio: createTwilioEmulator({
      accountSid: generated.twilio.accountSid,
      authToken: generated.twilio.authToken,
      validFrom:
        generated.twilio.fromNumber === SANDBOX_TWILIO_FROM
          ? undefined
          : [generated.twilio.fromNumber],
      callbackDelayMs: options.twilioCallbackDelayMs,
    }),
    sendgrid: createSendgridEmulator({
      apiKey: generated.sendgrid.apiKey,
      webhookUrl: webhookUrls?.sendgrid,
      privateKey: sendgridKey,
      eventDelayMs: options.sendgridEventDelayMs,
    }),
  };
  const credentials: SandboxCredentials = {
    ...generated,
    sendgrid: {
      ...generated.sendgrid,
      webhookPublicKey: createPublicKey(sendgridKey)
        .export({ type: 'spki', format: 'der' })
        .toString('base64'),
    },
  };

  const serverFor = (name: ProviderName): EmulatorServer =>
    new EmulatorServer(emulators[name], {
      port: options.ports?.[name],
      host: options.host,
      faults: options.faults?.[name],
      delivery: options.delivery,
      random: options.random,
    });
  const servers: Record<ProviderName, EmulatorServer> = {
    stripe: serverFor('stripe'),
    twilio: serverFor('twilio'),
    sendgrid: serverFor('sendgrid'),
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(PROVIDERS.map((name) => servers[name].stop()));
  };

  const started = await Promise.allSettled(PROVIDERS.map((name) => servers[name].start()));
  const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await stopAll();
    throw failure.reason;
  }
  const urls: Record<ProviderName, string> = {
    stripe: servers.stripe.url,
    twilio: servers.twilio.url,
    sendgrid: servers.sendgrid.url,
  };

  return {
    urls,
    get webhookUrls() {
      return webhookUrls;
    },
    credentials,
    servers,
    emulators,
    env: () => ({
      STRIPE_API_BASE_URL: urls.stripe,
      STRIPE_API_KEY: credentials.stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: credentials.stripe.webhookSecret,
      TWILIO_API_BASE_URL: urls.twilio,
      TWILIO_ACCOUNT_SID: credentials.twilio.accountSid,
      TWILIO_AUTH_TOKEN: credentials.twilio.authToken,
      TWILIO_FROM_NUMBER: credentials.twilio.fromNumber,
      SENDGRID_API_BASE_URL: urls.sendgrid,
      SENDGRID_API_KEY: credentials.sendgrid.apiKey,
      SENDGRID_FROM_EMAIL: credentials.sendgrid.fromEmail,
      SENDGRID_WEBHOOK_PUBLIC_KEY: credentials.sendgrid.webhookPublicKey,
    }),
    setWebhookBaseUrl(url: string | undefined): void {
      webhookUrls = webhookUrlsFor(url);
      emulators.stripe.setWebhookUrl(webhookUrls?.stripe);
      emulators.sendgrid.setWebhookUrl(webhookUrls?.sendgrid);
    },
    stop: stopAll,
  };
}
