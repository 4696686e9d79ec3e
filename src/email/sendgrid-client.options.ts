import { DynamicModule, Module } from '@nestjs/common';

/** Tuning of the SendGrid client's own retries; not part of the external contract, so not environment variables. */
export interface SendgridClientOptions {
  /** Base of the exponential, fully jittered pause between quick retries inside one call. */
  retryBaseMs: number;
  /**
   * The longest pause a call takes when SendGrid names one (`Retry-After`,
   * `X-RateLimit-Reset`); a longer one ends the call, and the job retries at
   * that time instead of holding a worker.
   */
  maxInCallWaitMs: number;
  /** A named retry time further away than this is not believed (a broken header); this is used instead. */
  maxNamedDelayMs: number;
  /**
   * How long the job waits before sending again after a request whose outcome
   * is unknown (it timed out, or the connection dropped, after it was sent):
   * time for SendGrid's `processed` event to arrive and say the email was
   * accepted, so it is not sent twice. Mail Send has no idempotency key.
   */
  unknownOutcomeRetryMs: number;
}

export const DEFAULT_SENDGRID_CLIENT_OPTIONS: SendgridClientOptions = {
  retryBaseMs: 100,
  maxInCallWaitMs: 2000,
  maxNamedDelayMs: 60 * 60 * 1000,
  unknownOutcomeRetryMs: 5 * 60 * 1000,
};

export const SENDGRID_CLIENT_OPTIONS = Symbol('SENDGRID_CLIENT_OPTIONS');

/** Overrides {@link DEFAULT_SENDGRID_CLIENT_OPTIONS} for the whole application (tests: no pauses). */
@Module({})
export class SendgridClientOptionsModule {
  static forRoot(options: Partial<SendgridClientOptions>): DynamicModule {
    return {
      module: SendgridClientOptionsModule,
      global: true,
      providers: [{ provide: SENDGRID_CLIENT_OPTIONS, useValue: options }],
      exports: [SENDGRID_CLIENT_OPTIONS],
    };
  }
}
