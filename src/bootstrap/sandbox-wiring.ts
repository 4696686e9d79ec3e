import { Inject, Module, OnApplicationShutdown, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app.config';
import { startSandbox, type Sandbox } from '../sandbox/sandbox-cluster';

/**
 * The one place that joins the emulators to the service (DESIGN.md: sandbox/
 * and the provider modules never import each other). With `SANDBOX=true` the
 * emulators start in-process, every provider is pointed at them with their
 * generated credentials, and their webhooks come back to our own `/webhooks/*`.
 */
export async function startSandboxFor(
  config: AppConfig,
): Promise<{ sandbox: Sandbox; config: AppConfig }> {
  const sandbox = await startSandbox({ webhookBaseUrl: config.http.publicBaseUrl });
  const { stripe, twilio, sendgrid } = sandbox.credentials;
  return {
    sandbox,
    config: {
      ...config,
      sandbox: true,
      stripe: {
        ...config.stripe,
        enabled: true,
        apiKey: stripe.secretKey,
        webhookSecrets: [stripe.webhookSecret],
        apiBaseUrl: sandbox.urls.stripe,
      },
      twilio: {
        ...config.twilio,
        enabled: true,
        accountSid: twilio.accountSid,
        authToken: twilio.authToken,
        fromNumber: twilio.fromNumber,
        messagingServiceSid: undefined,
        apiBaseUrl: sandbox.urls.twilio,
      },
      sendgrid: {
        ...config.sendgrid,
        enabled: true,
        apiKey: sendgrid.apiKey,
        fromEmail: sendgrid.fromEmail,
        webhookPublicKey: sendgrid.webhookPublicKey,
        apiBaseUrl: sandbox.urls.sendgrid,
      },
    },
  };
}

const SANDBOX = Symbol('SANDBOX');

/** Stops the in-process emulators with the application. */
@Module({})
export class SandboxLifecycleModule implements OnApplicationShutdown {
  constructor(@Inject(SANDBOX) private readonly sandbox: Sandbox) {}

  static forRoot(sandbox: Sandbox): DynamicModule {
    return { module: SandboxLifecycleModule, providers: [{ provide: SANDBOX, useValue: sandbox }] };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sandbox.stop();
  }
}
