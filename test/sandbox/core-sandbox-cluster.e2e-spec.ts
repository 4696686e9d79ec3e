import { createPublicKey } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

import Stripe from 'stripe';

import { describeSandbox, parseRunArgs } from '../../src/sandbox/run';
import {
  SANDBOX_TWILIO_FROM,
  generateSandboxCredentials,
  startSandbox,
} from '../../src/sandbox/sandbox-cluster';
import type { Sandbox } from '../../src/sandbox/sandbox-cluster';
import { WebhookReceiver, stripeClient } from './stripe-support';

describe(startSandbox.name, () => {
  const receiver = new WebhookReceiver();
  let sut: Sandbox;
  let base: string;

  beforeAll(async () => {
    base = await receiver.start();
    sut = await startSandbox({ webhookBaseUrl: `${base}/`, delivery: { retryScheduleMs: [5] } });
  });

  afterAll(async () => {
    await sut.stop();
    await receiver.stop();
  });

  it('starts the three emulators on their own ports', () => {
    const urls = Object.values(sut.urls);

    expect(urls).toHaveLength(3);
    expect(new Set(urls).size).toBe(3);
    for (const url of urls) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sut.servers.stripe.url).toBe(sut.urls.stripe);
    expect(sut.webhookUrls).toEqual({
      stripe: `${base}/webhooks/stripe`,
      twilio: `${base}/webhooks/twilio`,
      sendgrid: `${base}/webhooks/sendgrid`,
    });
  });

  it('generates credentials shaped like the providers’ own', () => {
    const { stripe, twilio, sendgrid } = sut.credentials;

    expect(stripe.secretKey).toMatch(/^sk_test_[0-9A-Za-z]{32}$/);
    expect(stripe.webhookSecret).toMatch(/^whsec_[0-9A-Za-z]{32}$/);
    expect(twilio.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(twilio.authToken).toMatch(/^[0-9a-f]{32}$/);
    expect(twilio.fromNumber).toBe(SANDBOX_TWILIO_FROM);
    expect(sendgrid.apiKey).toMatch(/^SG\.[0-9A-Za-z]{22}\.[0-9A-Za-z]{43}$/);
    const key = createPublicKey({
      key: Buffer.from(sendgrid.webhookPublicKey, 'base64'),
      format: 'der',
      type: 'spki',
    });
    expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(sut.emulators.sendgrid.publicKeyBase64()).toBe(sendgrid.webhookPublicKey);
    expect(generateSandboxCredentials().stripe.secretKey).not.toBe(stripe.secretKey);
    expect(generateSandboxCredentials({ twilio: { authToken: 'fixed' } }).twilio.authToken).toBe(
      'fixed',
    );
  });

  it('names the service variables that point at it', () => {
    expect(sut.env()).toMatchObject({
      STRIPE_API_BASE_URL: sut.urls.stripe,
      STRIPE_API_KEY: sut.credentials.stripe.secretKey,
      STRIPE_WEBHOOK_SECRET: sut.credentials.stripe.webhookSecret,
      TWILIO_API_BASE_URL: sut.urls.twilio,
      TWILIO_ACCOUNT_SID: sut.credentials.twilio.accountSid,
      TWILIO_FROM_NUMBER: SANDBOX_TWILIO_FROM,
      SENDGRID_API_BASE_URL: sut.urls.sendgrid,
      SENDGRID_WEBHOOK_PUBLIC_KEY: sut.credentials.sendgrid.webhookPublicKey,
    });
  });

  it('wires each emulator to its credentials', async () => {
    const twilioAuth = `Basic ${Buffer.from(`${sut.credentials.twilio.accountSid}:${sut.credentials.twilio.authToken}`).toString('base64')}`;
    const twilioPath = `/2010-04-01/Accounts/${sut.credentials.twilio.accountSid}/Messages/SM00000000000000000000000000000000.json`;
    const twilioOk = await fetch(`${sut.urls.twilio}${twilioPath}`, {
      headers: { Authorization: twilioAuth },
    });
    const twilioBad = await fetch(`${sut.urls.twilio}${twilioPath}`, {
      headers: { Authorization: 'Basic eDp5' },
    });
    expect(twilioOk.status).not.toBe(401);
    expect(twilioBad.status).toBe(401);

    const mail = {
      personalizations: [{ to: [{ email: 'a@example.com' }] }],
      from: { email: 'b@example.com' },
      subject: 's',
      content: [{ type: 'text/plain', value: 'v' }],
    };
    const sendgridBad = await fetch(`${sut.urls.sendgrid}/v3/mail/send`, {
      method: 'POST',
      headers: { Authorization: 'Bearer SG.wrong.key', 'Content-Type': 'application/json' },
      body: JSON.stringify(mail),
    });
    expect(sendgridBad.status).toBe(401);
  });

  it('sends Stripe webhooks to <webhookBaseUrl>/webhooks/stripe, signed with the generated secret', async () => {
    const stripe = stripeClient(sut.servers.stripe, sut.credentials.stripe.secretKey);
    await stripe.paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    await sut.servers.stripe.whenDeliveriesIdle();

    const [delivery] = sut.servers.stripe.deliveries();
    expect(delivery.url).toBe(`${base}/webhooks/stripe`);
    const [webhook] = receiver.received;
    const event = stripe.webhooks.constructEvent(
      webhook.body,
      String(webhook.headers['stripe-signature']),
      sut.credentials.stripe.webhookSecret,
    );
    expect(event.type).toBe('payment_intent.created');
  });

  it('re-points webhooks with setWebhookBaseUrl', async () => {
    sut.setWebhookBaseUrl('http://127.0.0.1:1/app');
    expect(sut.webhookUrls?.stripe).toBe('http://127.0.0.1:1/app/webhooks/stripe');
    sut.setWebhookBaseUrl(undefined);
    expect(sut.webhookUrls).toBeUndefined();

    sut.servers.stripe.reset();
    await stripeClient(sut.servers.stripe, sut.credentials.stripe.secretKey).paymentIntents.create({
      amount: 1000,
      currency: 'usd',
      allowed_payment_method_types: ['card'],
    });
    expect(sut.servers.stripe.deliveries()).toEqual([]);
  });

  it('fails cleanly when a port is taken, leaving nothing running', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      await expect(startSandbox({ ports: { twilio: port } })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('stops all three, twice without harm', async () => {
    const other = await startSandbox();
    const stripe = stripeClient(other.servers.stripe, other.credentials.stripe.secretKey);

    await other.stop();
    await other.stop();

    await expect(stripe.events.list()).rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError);
  });
});

describe(parseRunArgs.name, () => {
  it('defaults to the fixed ports on 127.0.0.1', () => {
    expect(parseRunArgs([])).toEqual({
      ports: { stripe: 12111, twilio: 12112, sendgrid: 12113 },
      host: '127.0.0.1',
      webhookBaseUrl: undefined,
    });
  });

  it('takes ports, host and webhook base URL from argv', () => {
    expect(
      parseRunArgs([
        '--stripe-port',
        '1',
        '--twilio-port=2',
        '--sendgrid-port',
        '3',
        '--host',
        '0.0.0.0',
        '--webhook-base-url',
        'http://localhost:3000',
      ]),
    ).toEqual({
      ports: { stripe: 1, twilio: 2, sendgrid: 3 },
      host: '0.0.0.0',
      webhookBaseUrl: 'http://localhost:3000',
    });
    expect(parseRunArgs(['--help'])).toBeUndefined();
  });

  it('rejects bad values and unknown flags', () => {
    expect(() => parseRunArgs(['--stripe-port', 'x'])).toThrow(/--stripe-port/);
    expect(() => parseRunArgs(['--webhook-base-url', 'ftp://x'])).toThrow(/--webhook-base-url/);
    expect(() => parseRunArgs(['--colour'])).toThrow();
  });

  it('describes a running sandbox with its URLs and variables', async () => {
    const sandbox = await startSandbox();
    try {
      const text = describeSandbox(sandbox);
      expect(text).toContain(sandbox.urls.stripe);
      expect(text).toContain(`STRIPE_API_KEY=${sandbox.credentials.stripe.secretKey}`);
      expect(text).toContain(
        `SENDGRID_WEBHOOK_PUBLIC_KEY=${sandbox.credentials.sendgrid.webhookPublicKey}`,
      );
    } finally {
      await sandbox.stop();
    }
  });
});
