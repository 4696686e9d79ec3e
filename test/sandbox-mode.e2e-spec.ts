import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type StartResult } from '../src/bootstrap/start-service';
import { JobQueue } from '../src/jobs/job-queue';
import { freePort } from './helpers/free-port';

/**
 * What a new user gets from `npm start` with nothing configured: the service
 * with the built-in emulators in its own process, every provider enabled and
 * the emulators' webhooks coming back to it.
 */
describe('Sandbox mode (npm start on a fresh machine)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-sandbox-'));
  let result: StartResult;
  let base: string;
  let key: string;

  beforeAll(async () => {
    const out: string[] = [];
    const port = await freePort();
    result = await startService(
      {
        NODE_ENV: 'development',
        PORT: String(port),
        DATABASE_URL: `sqlite:${join(dir, 'sb.db')}`,
        LOG_LEVEL: 'silent',
      },
      { stdout: { write: (t) => void out.push(t) }, stderr: { write: (t) => void out.push(t) } },
    );
    if (!result.ok) throw new Error(out.join(''));
    base = `http://127.0.0.1:${port}`;
    key = /Development API key \(all scopes\): (\S+)/.exec(out.join(''))?.[1] ?? '';
  });
  afterAll(async () => {
    if (result?.ok) await result.app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Waits for the jobs and every emulator's webhooks to settle, twice (a webhook enqueues a job). */
  async function settle(): Promise<void> {
    if (!result.ok || !result.sandbox) throw new Error('no sandbox');
    const jobs = result.app.get(JobQueue);
    for (let i = 0; i < 3; i++) {
      await jobs.whenIdle();
      await Promise.all(Object.values(result.sandbox.servers).map((s) => s.whenDeliveriesIdle()));
    }
    await jobs.whenIdle();
  }

  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });

  it('enables every provider against the in-process emulators', () => {
    if (!result.ok) throw new Error('not started');
    expect(result.config.sandbox).toBe(true);
    for (const provider of ['stripe', 'twilio', 'sendgrid'] as const) {
      expect(result.config[provider].enabled).toBe(true);
      expect(result.config[provider].apiBaseUrl).toBe(result.sandbox?.urls[provider]);
    }
  });

  it('sends an email and records its delivery from the signed Event Webhook', async () => {
    const created = await call('POST', '/emails', {
      to: 'ada@example.com',
      subject: 'Hello',
      text: 'Hi Ada',
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    await settle();
    const email = (await (await call('GET', `/emails/${id}`)).json()) as { status: string };
    expect(email.status).toBe('delivered');
  });

  it('takes a card payment and marks it succeeded from the signed Stripe webhook', async () => {
    const created = await call('POST', '/payments', {
      amount: 2500,
      currency: 'EUR',
      paymentMethod: 'pm_card_visa',
      confirm: true,
    });
    expect(created.status).toBe(201);
    const payment = (await created.json()) as {
      id: string;
      clientSecret: string;
      currency: string;
    };
    expect(payment.clientSecret).toMatch(/^pi_.+_secret_/);
    expect(payment.currency).toBe('eur');
    await settle();
    const read = (await (await call('GET', `/payments/${payment.id}`)).json()) as {
      status: string;
    };
    expect(read.status).toBe('succeeded');
  });

  it('sends an SMS and follows its signed status callbacks to delivered', async () => {
    const created = await call('POST', '/sms', { to: '+15551234567', body: 'Your code is 1234' });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    await settle();
    const sms = (await (await call('GET', `/sms/${id}`)).json()) as {
      status: string;
      events: { status: string }[];
    };
    expect(sms.status).toBe('delivered');
    expect(sms.events.map((e) => e.status)).toEqual(expect.arrayContaining(['sent', 'delivered']));
  });

  it("ends an SMS to one of Twilio's magic numbers failed with Twilio's code", async () => {
    const created = await call('POST', '/sms', { to: '+15005550002', body: 'Hello' });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    await settle();
    const sms = (await (await call('GET', `/sms/${id}`)).json()) as {
      status: string;
      errorCode: string;
    };
    expect(sms).toMatchObject({ status: 'failed', errorCode: '21612' });
  });
});
