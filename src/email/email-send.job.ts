import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { JobContext, JobQueue, PermanentJobError, RetryableJobError } from '../jobs/job-queue';
import { EMAIL_ID_CUSTOM_ARG } from './email-id';
import { EmailsRepository, type EmailRow } from './emails.repository';
import {
  SendgridClient,
  SendgridError,
  type OutgoingEmail,
  type OutgoingPersonalization,
} from './sendgrid.client';

/** The job that hands one queued email to SendGrid. */
export const EMAIL_SEND_JOB = 'email.send';

export interface EmailSendJobPayload {
  emailId: string;
}

/** Sends of several emails run at once; the outbound rate limiter paces them. */
const SEND_CONCURRENCY = 8;

/**
 * CONTRACT "Email": without cc/bcc every `to` address gets its own
 * personalization, so no recipient sees another; with them, one
 * personalization carries everybody, as the client asked for a shared copy.
 */
export function personalizationsFor(
  to: readonly string[],
  cc: readonly string[] = [],
  bcc: readonly string[] = [],
): OutgoingPersonalization[] {
  if (cc.length === 0 && bcc.length === 0) return to.map((address) => ({ to: [address] }));
  return [
    {
      to: [...to],
      ...(cc.length > 0 ? { cc: [...cc] } : {}),
      ...(bcc.length > 0 ? { bcc: [...bcc] } : {}),
    },
  ];
}

function list(json: string | null): string[] {
  return json === null ? [] : (JSON.parse(json) as string[]);
}

export function outgoingEmail(row: EmailRow): OutgoingEmail {
  return {
    from: row.from_email,
    replyTo: row.reply_to ?? undefined,
    subject: row.subject ?? undefined,
    text: row.text_body ?? undefined,
    html: row.html_body ?? undefined,
    templateId: row.template_id ?? undefined,
    templateData:
      row.template_data === null
        ? undefined
        : (JSON.parse(row.template_data) as Record<string, unknown>),
    categories: row.categories === null ? undefined : list(row.categories),
    personalizations: personalizationsFor(list(row.to_list), list(row.cc_list), list(row.bcc_list)),
    customArgs: { [EMAIL_ID_CUSTOM_ARG]: row.id },
  };
}

/**
 * Runs `email.send`: one SendGrid request (plus the client's quick retries)
 * per attempt. Accepted → `sent` with the `X-Message-Id`; refused (4xx) →
 * `failed` at once with our own safe message, SendGrid's words only in the
 * log; unavailable → the job retries with backoff, or at the time SendGrid
 * named; attempts exhausted → `failed` with `provider_unavailable`.
 */
@Injectable()
export class EmailSendJob implements OnModuleInit {
  private readonly logger = new Logger(EmailSendJob.name);

  constructor(
    private readonly jobs: JobQueue,
    private readonly repo: EmailsRepository,
    private readonly client: SendgridClient,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.jobs.register<EmailSendJobPayload>(EMAIL_SEND_JOB, {
      handler: (payload, ctx) => this.run(payload.emailId, ctx),
      onDead: (payload, ctx) => this.giveUp(payload.emailId, ctx),
      concurrency: SEND_CONCURRENCY,
    });
  }

  async run(emailId: string, ctx: JobContext): Promise<void> {
    const row = await this.repo.findById(emailId);
    // Gone, or already with SendGrid (this job ran before and only its outcome was lost): never send twice.
    // A `failed` email is sent again only when an operator retries its dead job.
    if (!row || (row.status !== 'queued' && row.status !== 'failed')) return;
    const log = { emailId, jobId: ctx.jobId, attempt: ctx.attempt };
    try {
      const result = await this.client.send(outgoingEmail(row));
      await this.repo.markSent(
        emailId,
        result.providerMessageId,
        result.requests,
        this.clock.now(),
      );
      this.logger.log(
        { ...log, providerMessageId: result.providerMessageId, requests: result.requests },
        'email handed to SendGrid',
      );
    } catch (err) {
      if (!(err instanceof SendgridError)) throw err;
      const detail = {
        ...log,
        status: err.status,
        requests: err.requests,
        providerErrors: err.providerErrors,
      };
      if (err.kind === 'rejected') {
        await this.repo.markFailed(emailId, {
          errorCode: 'provider_rejected',
          errorMessage: err.message,
          requests: err.requests,
          from: ['queued', 'failed'],
          now: this.clock.now(),
        });
        this.logger.warn(detail, 'SendGrid rejected the email');
        throw new PermanentJobError(err.message);
      }
      await this.repo.addAttempts(emailId, err.requests, this.clock.now());
      this.logger.warn({ ...detail, retryAfterMs: err.retryAfterMs }, 'SendGrid unavailable');
      throw new RetryableJobError(err.message, err.retryAfterMs);
    }
  }

  /** Attempts exhausted; an email SendGrid refused is already `failed` with the better reason. */
  private async giveUp(emailId: string, ctx: JobContext & { error: string }): Promise<void> {
    const changed = await this.repo.markFailed(emailId, {
      errorCode: 'provider_unavailable',
      errorMessage: `SendGrid was unavailable; gave up after ${ctx.attempt} attempts (${ctx.error})`,
      requests: 0,
      from: ['queued'],
      now: this.clock.now(),
    });
    if (changed)
      this.logger.error({ emailId, jobId: ctx.jobId }, 'email failed: SendGrid unavailable');
  }
}
