import { generateKeyPairSync } from 'node:crypto';
import type { ProviderId } from '../../src/config/app.config';
import { DATABASE } from '../../src/database/database.module';
import type { Db } from '../../src/database/database.types';
import { JobQueue } from '../../src/jobs/job-queue';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox-cluster';
import { injectJson, startTestApp, type TestApp } from '../helpers/app';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { signedDelivery } from '../helpers/signed-webhooks';
import { freePort } from '../helpers/free-port';

/** The credentials of each provider (CONTRACT §1); removing them disables it. */
const CREDENTIALS: Record<ProviderId, string[]> = {
  stripe: ['STRIPE_API_KEY', 'STRIPE_WEBHOOK_SECRET'],
  twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER'],
  sendgrid: ['SENDGRID_API_KEY', 'SENDGRID_FROM_EMAIL', 'SENDGRID_WEBHOOK_PUBLIC_KEY'],
};

const PROVIDERS: readonly ProviderId[] = ['stripe', 'twilio', 'sendgrid'];

type Inject = TestApp['app']['inject'];
type Response = Awaited<ReturnType<Inject>>;

/**
 * One provider without credentials while the other two are configured
 * against the emulators: the disabled one answers 503 `provider_disabled` on
 * every route and its webhook (storing nothing), and the others carry a
 * request through the provider and its signed webhooks to the final status.
 */
describe('Degraded operation: one provider disabled', () => {
  describe.each(PROVIDERS)('without %s credentials', (disabled) => {
    let database: TestDatabase;
    let sandbox: Sandbox;
    let sut: TestApp;
    let publicUrl: string;

    beforeAll(async () => {
      database = await createTestDatabase();
      const port = await freePort();
      publicUrl = `http://127.0.0.1:${port}`;
      sandbox = await startSandbox({
        webhookBaseUrl: publicUrl,
        // Long enough that the send job has stored the SID before the first callback.
        twilioCallbackDelayMs: 25,
        sendgridEventDelayMs: 5,
        delivery: { retryScheduleMs: [20, 100, 500], timeoutMs: 10_000 },
      });
      const env: Record<string, string | undefined> = {
        ...sandbox.env(),
        DATABASE_URL: database.url,
        PUBLIC_BASE_URL: publicUrl,
        JOB_BACKOFF_BASE_MS: '1',
      };
      for (const name of CREDENTIALS[disabled]) env[name] = undefined;
      sut = await startTestApp({ env });
      await sut.app.listen({ host: '127.0.0.1', port });
    });
    afterAll(async () => {
      await sut?.close();
      await sandbox?.stop();
      await database?.drop();
    });

    const call = (method: 'GET' | 'POST', url: string, body?: unknown): Promise<Response> =>
      injectJson(sut.app, method, url, body);

    /** Until the jobs ran and every emulator delivered its webhooks, which enqueue jobs again. */
    async function settle(): Promise<void> {
      const jobs = sut.app.get(JobQueue);
      for (let round = 0; round < 3; round++) {
        await jobs.whenIdle();
        await Promise.all(Object.values(sandbox.servers).map((s) => s.whenDeliveriesIdle()));
      }
      await jobs.whenIdle();
    }

    /** A webhook of `provider`, correctly signed with the sandbox's credentials. */
    function signedWebhook(provider: ProviderId): Promise<Response> {
      const { credentials } = sandbox;
      return sut.app.inject(
        signedDelivery(
          provider,
          {
            stripeWebhookSecret: credentials.stripe.webhookSecret,
            twilioAuthToken: credentials.twilio.authToken,
            publicBaseUrl: publicUrl,
            // The disabled case has no key configured at all; a fresh one is as good as any.
            sendgridPrivateKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
          },
          `degraded_${disabled}`,
        ),
      );
    }

    /** Each provider's routes, with a body each would accept. */
    const ROUTES: Record<ProviderId, [method: 'GET' | 'POST', url: string, body?: unknown][]> = {
      stripe: [
        ['POST', '/payments', { amount: 1000, currency: 'usd' }],
        ['GET', '/payments'],
        ['GET', '/payments/pay_00000000000000000000000000'],
        ['POST', '/payments/pay_00000000000000000000000000/refunds', {}],
        ['POST', '/payments/pay_00000000000000000000000000/cancel', {}],
      ],
      twilio: [
        ['POST', '/sms', { to: '+15551234567', body: 'hi' }],
        ['GET', '/sms'],
        ['GET', '/sms/sms_00000000000000000000000000'],
      ],
      sendgrid: [
        ['POST', '/emails', { to: 'ada@example.com', subject: 'Hi', text: 'Hello' }],
        ['GET', '/emails'],
        ['GET', '/emails/eml_00000000000000000000000000'],
      ],
    };

    it(`answers 503 provider_disabled on every ${disabled} route and its webhook, storing nothing`, async () => {
      const responses = [
        ...(await Promise.all(ROUTES[disabled].map(([m, url, body]) => call(m, url, body)))),
        await signedWebhook(disabled),
      ];
      for (const res of responses) {
        expect({ status: res.statusCode, body: res.json() }).toEqual({
          status: 503,
          body: expect.objectContaining({ statusCode: 503, code: 'provider_disabled' }),
        });
      }
      const db = sut.app.get<Db>(DATABASE);
      const stored = await db
        .selectFrom('webhook_events')
        .select('id')
        .where('provider', '=', disabled)
        .execute();
      expect(stored).toHaveLength(0);
    });

    it('carries requests of the other providers through to their final status', async () => {
      const created: Partial<Record<ProviderId, string>> = {};
      if (disabled !== 'stripe') {
        const res = await call('POST', '/payments', {
          amount: 1500,
          currency: 'usd',
          paymentMethod: 'pm_card_visa',
          confirm: true,
        });
        expect(res.statusCode).toBe(201);
        created.stripe = `/payments/${res.json().id}`;
      }
      if (disabled !== 'twilio') {
        const res = await call('POST', '/sms', { to: '+15551234567', body: 'Your code is 1234' });
        expect(res.statusCode).toBe(202);
        created.twilio = `/sms/${res.json().id}`;
      }
      if (disabled !== 'sendgrid') {
        const res = await call('POST', '/emails', {
          to: 'ada@example.com',
          subject: 'Hello',
          text: 'Hi Ada',
        });
        expect(res.statusCode).toBe(202);
        created.sendgrid = `/emails/${res.json().id}`;
      }
      await settle();

      const final: Record<ProviderId, string> = {
        stripe: 'succeeded',
        twilio: 'delivered',
        sendgrid: 'delivered',
      };
      for (const provider of PROVIDERS.filter((p) => p !== disabled)) {
        const read = await call('GET', created[provider] ?? '');
        expect({ provider, status: read.json().status }).toEqual({
          provider,
          status: final[provider],
        });
        // The final status came from the provider's signed webhooks, stored and processed.
        const events = await call('GET', `/webhook-events?provider=${provider}&status=processed`);
        expect(events.json().data.length).toBeGreaterThan(0);
      }
    });
  });
});
