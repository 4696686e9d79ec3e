import { parseArgs } from 'node:util';

import { startSandbox } from './sandbox-cluster';
import type { Sandbox } from './sandbox-cluster';

/**
 * `npm run sandbox`: the three provider emulators on fixed ports, their URLs
 * and generated credentials printed as the service's environment variables.
 * Options come from argv only (the service reads the environment, not this).
 */

const USAGE = `Usage: npm run sandbox -- [options]

  --stripe-port <n>        default 12111
  --twilio-port <n>        default 12112
  --sendgrid-port <n>      default 12113
  --host <host>            default 127.0.0.1
  --webhook-base-url <url> where webhooks go (…/webhooks/stripe|twilio|sendgrid), e.g. http://127.0.0.1:3000
  --help
`;

export interface RunOptions {
  ports: { stripe: number; twilio: number; sendgrid: number };
  host: string;
  webhookBaseUrl?: string;
}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`--${name} must be a port number (0-65535), got ${value}.`);
  return n;
}

/** Parses argv (without node and the script); `undefined` means `--help`. */
export function parseRunArgs(argv: string[]): RunOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      'stripe-port': { type: 'string' },
      'twilio-port': { type: 'string' },
      'sendgrid-port': { type: 'string' },
      host: { type: 'string' },
      'webhook-base-url': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const webhookBaseUrl = values['webhook-base-url'];
  if (webhookBaseUrl !== undefined && !/^https?:\/\//.test(webhookBaseUrl)) {
    throw new Error(`--webhook-base-url must be an http(s) URL, got ${webhookBaseUrl}.`);
  }
  return {
    ports: {
      stripe: port(values['stripe-port'], 12111, 'stripe-port'),
      twilio: port(values['twilio-port'], 12112, 'twilio-port'),
      sendgrid: port(values['sendgrid-port'], 12113, 'sendgrid-port'),
    },
    host: values.host ?? '127.0.0.1',
    webhookBaseUrl,
  };
}

export function describeSandbox(sandbox: Sandbox): string {
  const lines = [
    'Switchboard sandbox: Stripe, Twilio and SendGrid emulators are running.',
    '',
    `  Stripe    ${sandbox.urls.stripe}`,
    `  Twilio    ${sandbox.urls.twilio}   (test sender ${sandbox.credentials.twilio.fromNumber})`,
    `  SendGrid  ${sandbox.urls.sendgrid}`,
    '',
    sandbox.webhookUrls
      ? `Webhooks go to ${sandbox.webhookUrls.stripe}, ${sandbox.webhookUrls.sendgrid}; Twilio callbacks to the StatusCallback given (e.g. ${sandbox.webhookUrls.twilio}).`
      : 'No --webhook-base-url: events are stored, not sent (see GET /v1/events and /__sandbox/deliveries).',
    'Control API on each: /__sandbox/requests, /deliveries, /state, /faults, /faults/queue, /reset, /trigger.',
    '',
    'Point the service at it with these variables (test credentials, generated for this run):',
    '',
    ...Object.entries(sandbox.env()).map(([name, value]) => `${name}=${value}`),
    '',
    'Ctrl+C stops the sandbox.',
  ];
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  let options: RunOptions | undefined;
  try {
    options = parseRunArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return;
  }
  const sandbox = await startSandbox(options);
  process.stdout.write(describeSandbox(sandbox));

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the sandbox…\n`);
    sandbox.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(
          `Failed to stop cleanly: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `The sandbox failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  });
}
