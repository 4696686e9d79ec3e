import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AppError } from '../common/errors/app-error';
import { cursorParam, DEFAULT_PAGE_LIMIT, pageOf } from '../common/http/pagination';
import type { AppConfig } from '../config/app.config';
import { InjectConfig } from '../config/config.module';
import { InjectDb } from '../database/database.module';
import type { Db } from '../database/database.types';
import { JobQueue } from '../jobs/job-queue';
import { MAX_RECIPIENTS, type CreateEmailDto } from './dto/create-email.dto';
import type { EmailDto, EmailListDto } from './dto/email.dto';
import type { ListEmailsDto } from './dto/list-emails.dto';
import { EMAIL_ID_PATTERN, newEmailId } from './email-id';
import { recipientRank, type RecipientKind } from './email-status';
import { EMAIL_SEND_JOB, type EmailSendJobPayload } from './email-send.job';
import {
  EmailsRepository,
  type EmailEventRow,
  type EmailRecipientRow,
  type EmailRow,
} from './emails.repository';
import { inTransaction } from '../database/transaction';

type Problem = { field: string; message: string };

/** The rules of CONTRACT "Email" that span fields; the DTO checked each field on its own. */
export function crossFieldProblems(dto: CreateEmailDto): Problem[] {
  const problems: Problem[] = [];
  const templated = dto.templateId !== undefined;
  if (!templated && dto.subject === undefined) {
    problems.push({ field: 'subject', message: 'subject is required unless templateId is given' });
  }
  if (!templated && dto.text === undefined && dto.html === undefined) {
    problems.push({
      field: 'text',
      message: 'text or html is required unless templateId is given',
    });
  }
  if (!templated && dto.templateData !== undefined) {
    problems.push({ field: 'templateData', message: 'templateData requires templateId' });
  }
  const all = [...dto.to, ...(dto.cc ?? []), ...(dto.bcc ?? [])];
  if (all.length > MAX_RECIPIENTS) {
    problems.push({
      field: 'to',
      message: `to, cc and bcc together must name at most ${MAX_RECIPIENTS} addresses`,
    });
  }
  const seen = new Set<string>();
  for (const address of all) {
    const key = address.toLowerCase();
    if (seen.has(key)) {
      // SendGrid refuses a repeated address; each recipient also has exactly one status here.
      problems.push({
        field: 'to',
        message: 'an address appears more than once in to, cc and bcc',
      });
      break;
    }
    seen.add(key);
  }
  return problems;
}

function parseJson<T>(value: string | null, fallback: T): T {
  return value === null ? fallback : (JSON.parse(value) as T);
}

export function toEmailDto(
  row: EmailRow,
  recipients: readonly EmailRecipientRow[],
  events: readonly EmailEventRow[],
): EmailDto {
  return {
    id: row.id,
    to: parseJson<string[]>(row.to_list, []),
    subject: row.subject,
    status: row.status,
    recipients: recipients.map((r) => ({
      email: r.address,
      status: r.status,
      ...(r.reason !== null ? { reason: r.reason } : {}),
    })),
    providerMessageId: row.provider_message_id,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    attempts: Number(row.attempts),
    events: events.map((e) => ({
      type: e.type,
      at: e.occurred_at,
      recipient: e.recipient,
      ...(e.reason !== null ? { reason: e.reason } : {}),
    })),
    metadata: parseJson<Record<string, string>>(row.metadata, {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function groupBy<T extends { email_id: string }>(rows: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const list = out.get(row.email_id);
    if (list) list.push(row);
    else out.set(row.email_id, [row]);
  }
  return out;
}

/** The email use cases: queue one (row + job in one transaction), read one, list them. */
@Injectable()
export class EmailsService {
  private readonly logger = new Logger(EmailsService.name);

  constructor(
    @InjectDb() private readonly db: Db,
    @InjectConfig() private readonly config: AppConfig,
    private readonly repo: EmailsRepository,
    private readonly jobs: JobQueue,
    private readonly clock: Clock,
  ) {}

  async create(dto: CreateEmailDto): Promise<EmailDto> {
    const problems = crossFieldProblems(dto);
    if (problems.length > 0) throw AppError.validation(problems);
    const from = dto.from ?? this.config.sendgrid.fromEmail;
    if (from === undefined) throw new AppError('provider_disabled', 'no sender is configured');

    const now = this.clock.now();
    const at = now.toISOString();
    const id = newEmailId(now);
    const row: EmailRow = {
      id,
      status: 'queued',
      from_email: from,
      reply_to: dto.replyTo ?? null,
      to_list: JSON.stringify(dto.to),
      cc_list: dto.cc ? JSON.stringify(dto.cc) : null,
      bcc_list: dto.bcc ? JSON.stringify(dto.bcc) : null,
      subject: dto.subject ?? null,
      text_body: dto.text ?? null,
      html_body: dto.html ?? null,
      template_id: dto.templateId ?? null,
      template_data: dto.templateData === undefined ? null : JSON.stringify(dto.templateData),
      categories: dto.categories ? JSON.stringify(dto.categories) : null,
      metadata: JSON.stringify(dto.metadata ?? {}),
      provider_message_id: null,
      error_code: null,
      error_message: null,
      attempts: 0,
      created_at: at,
      updated_at: at,
    };
    const kinds: [RecipientKind, string[] | undefined][] = [
      ['to', dto.to],
      ['cc', dto.cc],
      ['bcc', dto.bcc],
    ];
    const recipients: EmailRecipientRow[] = kinds.flatMap(([kind, list]) =>
      (list ?? []).map((address) => ({
        email_id: id,
        position: 0,
        address,
        address_key: address.toLowerCase(),
        kind,
        status: 'queued' as const,
        rank: recipientRank('queued'),
        reason: null,
        updated_at: at,
      })),
    );
    recipients.forEach((r, i) => (r.position = i));

    await inTransaction(this.db, async (trx) => {
      await this.repo.insert(trx, row, recipients);
      await this.jobs.enqueue<EmailSendJobPayload>(EMAIL_SEND_JOB, { emailId: id }, { trx });
    });
    this.logger.log({ emailId: id, recipients: recipients.length }, 'email queued');
    return toEmailDto(row, recipients, []);
  }

  async get(id: string): Promise<EmailDto> {
    const row = EMAIL_ID_PATTERN.test(id) ? await this.repo.findById(id) : undefined;
    if (!row) throw AppError.notFound('email');
    const [recipients, events] = await Promise.all([
      this.repo.recipientsOf([id]),
      this.repo.eventsOf([id]),
    ]);
    return toEmailDto(row, recipients, events);
  }

  async list(query: ListEmailsDto): Promise<EmailListDto> {
    const after = cursorParam(query.cursor, EMAIL_ID_PATTERN);
    const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
    const rows = await this.repo.list({ status: query.status, limit, after });
    const ids = rows.slice(0, limit).map((r) => r.id);
    const [recipients, events] = await Promise.all([
      this.repo.recipientsOf(ids),
      this.repo.eventsOf(ids),
    ]);
    const recipientsBy = groupBy(recipients);
    const eventsBy = groupBy(events);
    return pageOf(rows, limit, (page) =>
      page.map((r) => toEmailDto(r, recipientsBy.get(r.id) ?? [], eventsBy.get(r.id) ?? [])),
    );
  }
}
