import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Pool } from 'pg';
import Stripe from 'stripe';
import twilio from 'twilio';
import type { JobQueueOptions } from '../../src/jobs/job-queue.options';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox-cluster';
import { AppProcess, staleBuildProblem } from '../helpers/app-process';
import { freePort } from '../helpers/free-port';
import { createPostgresDatabase, type TestDatabase } from '../helpers/databases';
import { LoadBalancer } from '../helpers/load-balancer';
import { claimRedisDatabase, type TestRedisDatabase } from '../helpers/redis-database';

const postgresUrl = process.env.TEST_DATABASE_URL;
const redisUrl = process.env.TEST_REDIS_URL;

/** Why the scale-out suites cannot run here, or undefined when they can. */
export function scaleoutSkipReason(): string | undefined {
  const missing = [
    ...(postgresUrl ? [] : ['TEST_DATABASE_URL']),
    ...(redisUrl ? [] : ['TEST_REDIS_URL']),
  ];
  return missing.length > 0 ? `${missing.join(' and ')} not set` : undefined;
}

/** The inbound limit every key has in the cluster: low enough to reach, high enough for the other tests. */
export const RATE_LIMIT_PER_MINUTE = 100;
/** Twilio's outbound limit, shared by both instances. */
export const TWILIO_MAX_RPS = 20;

/** Twilio's Messages resource, where the outbound limit and latency faults apply. */
export const TWILIO_MESSAGES_PATH = '/2010-04-01/Accounts';

/**
 * A job whose instance died is taken over once its lease runs out and a
 * sweeper relays it: 60 s and 5 s in production, a few seconds here so the
 * SIGKILL test does not spend a minute waiting. Long enough still that a live
 * instance on a busy machine keeps renewing its leases (every third of it).
 */
const JOB_QUEUE_OPTIONS: Partial<JobQueueOptions> = { leaseMs: 6000, sweepIntervalMs: 1000 };

export type InstanceName = 'A' | 'B';

type Json = Record<string, unknown>;

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Json;
}

/**
 * Two `node dist/main.js` instances on one fresh PostgreSQL database and one
 * Redis database of their own, behind a round-robin load balancer whose URL is
 * their `PUBLIC_BASE_URL`, every provider pointed at emulators running in
 * the test process (their webhooks come back through the load balancer).
 */
export class ScaleoutCluster {
  private readonly instances = new Map<InstanceName, AppProcess>();

  private constructor(
    readonly database: TestDatabase,
    readonly redis: TestRedisDatabase,
    readonly sandbox: Sandbox,
    readonly balancer: LoadBalancer,
    /** The test's own view of the shared database. */
    readonly sql: Pool,
    private readonly ports: Record<InstanceName, number>,
    private readonly sendgridKey: KeyObject,
    /** API keys by name; each test uses its own, so the inbound limit of one never touches another. */
    private readonly keys: ReadonlyMap<string, string>,
    private readonly env: Record<string, string>,
  ) {}

  static async start(keyNames: readonly string[]): Promise<ScaleoutCluster> {
    const problem = staleBuildProblem();
    if (problem) throw new Error(`the scale-out suite runs the build: ${problem}`);
    if (!postgresUrl || !redisUrl) throw new Error(`scale-out suite: ${scaleoutSkipReason()}`);

    const database = await createPostgresDatabase(postgresUrl);
    const redis = await claimRedisDatabase(redisUrl).catch(async (err: unknown) => {
      await database.drop();
      throw err;
    });
    const ports = { A: await freePort(), B: await freePort() };
    const balancer = new LoadBalancer([
      `http://127.0.0.1:${ports.A}`,
      `http://127.0.0.1:${ports.B}`,
    ]);
    await balancer.start();
    // SendGrid signs its Event Webhook with a key of ours, so the test can sign events too.
    const sendgridKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const sandbox = await startSandbox({
      webhookBaseUrl: balancer.url,
      sendgridPrivateKey: sendgridKey,
      // Quick redeliveries: a webhook that reached an instance being killed is sent again soon.
      delivery: { retryScheduleMs: [50, 200, 1000, 2000, 5000], timeoutMs: 10_000 },
    });

    const keys = new Map(
      keyNames.map((name) => [name, `${name}-${randomBytes(16).toString('hex')}`]),
    );
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      PUBLIC_BASE_URL: balancer.url,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SANDBOX: 'false',
      API_KEYS: [...keys]
        .map(([name, secret]) => `${name}:${secret}:payments+sms+emails+admin`)
        .join(','),
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
      TWILIO_MAX_RPS: String(TWILIO_MAX_RPS),
      STRIPE_MAX_RPS: '1000',
      SENDGRID_MAX_RPS: '1000',
      JOB_BACKOFF_BASE_MS: '50',
      // Longer than any wait of the tests: a send Twilio holds stays in flight until the test ends it.
      PROVIDER_TIMEOUT_MS: '30000',
      ...sandbox.env(),
    };
    const cluster = new ScaleoutCluster(
      database,
      redis,
      sandbox,
      balancer,
      new Pool({ connectionString: database.url, max: 4 }),
      ports,
      sendgridKey,
      keys,
      env,
    );
    // Both at once on the fresh database: migrations must cope with a concurrent start.
    const started = await Promise.allSettled([
      cluster.startInstance('A'),
      cluster.startInstance('B'),
    ]);
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await cluster.stop();
      throw failure.reason;
    }
    return cluster;
  }

  instance(name: InstanceName): AppProcess {
    const instance = this.instances.get(name);
    if (!instance) throw new Error(`instance ${name} is not started`);
    return instance;
  }

  /** Starts the instance (again, after a kill) on its own port. */
  async startInstance(name: InstanceName): Promise<AppProcess> {
    const current = this.instances.get(name);
    if (current?.isRunning) return current;
    const instance = await AppProcess.start({
      name,
      env: this.env,
      port: this.ports[name],
      jobQueueOptions: JOB_QUEUE_OPTIONS,
    });
    this.instances.set(name, instance);
    return instance;
  }

  /** Restarts whichever instance a test stopped. */
  async ensureBothRunning(): Promise<void> {
    await Promise.all([this.startInstance('A'), this.startInstance('B')]);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => i.kill('SIGTERM')));
    await this.balancer.stop();
    await this.sandbox.stop();
    await this.sql.end();
    await this.redis.release();
    await this.database.drop();
  }

  /** A JSON API call to one instance, or through the load balancer (`'lb'`). */
  async call(
    target: InstanceName | 'lb',
    key: string,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> {
    const secret = this.keys.get(key);
    if (!secret) throw new Error(`no API key named ${key}`);
    const base = target === 'lb' ? this.balancer.url : this.instance(target).url;
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Json) : {},
    };
  }

  /** Posts a raw webhook delivery to one instance, as a provider would. */
  async deliver(
    target: InstanceName,
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<number> {
    const res = await fetch(`${this.instance(target).url}${path}`, {
      method: 'POST',
      headers,
      body,
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** A Stripe event delivery signed with the account's webhook secret by Stripe's own helper. */
  signedStripeDelivery(event: Json): { body: string; headers: Record<string, string> } {
    const { secretKey, webhookSecret } = this.sandbox.credentials.stripe;
    const body = JSON.stringify(event);
    const signature = new Stripe(secretKey).webhooks.generateTestHeaderString({
      payload: body,
      secret: webhookSecret,
    });
    return {
      body,
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    };
  }

  /** A Twilio webhook form signed by Twilio's own helper for the public URL (the load balancer). */
  signedTwilioDelivery(params: Record<string, string>): {
    body: string;
    headers: Record<string, string>;
  } {
    const signature = twilio.getExpectedTwilioSignature(
      this.sandbox.credentials.twilio.authToken,
      `${this.balancer.url}/webhooks/twilio`,
      params,
    );
    return {
      body: new URLSearchParams(params).toString(),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': signature,
      },
    };
  }

  /** A SendGrid Event Webhook batch signed (ECDSA P-256 over timestamp + body) with the key the instances trust. */
  signedSendgridDelivery(events: Json[]): { body: string; headers: Record<string, string> } {
    const body = `${JSON.stringify(events)}\r\n`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = sign('sha256', Buffer.from(timestamp + body), this.sendgridKey).toString(
      'base64',
    );
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-signature': signature,
        'x-twilio-email-event-webhook-timestamp': timestamp,
      },
    };
  }

  /** A query on the shared database. */
  async rows<T extends Json>(text: string, values: unknown[] = []): Promise<T[]> {
    const result = await this.sql.query<T>(text, values);
    return result.rows;
  }
}
