/**
 * Validation of a `POST /v3/mail/send` body the way SendGrid does it: every
 * problem is reported at once, each as `{ message, field, help }`, with the
 * provider's own messages and field paths (`personalizations.0.to.0.email`).
 *
 * Messages and fields follow SendGrid's "Mail Send errors" reference and the
 * bodies the live API returns; the spec (`oai_v3_stoplight.json`) cannot express
 * most of these rules (subject/content optional with a template, content order).
 */

export interface SendgridFieldError {
  message: string;
  field: string | null;
  help: string | null;
}

export const MAX_PERSONALIZATIONS = 1000;
export const MAX_TOTAL_RECIPIENTS = 1000;

const HELP_BASE = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

// Deliberately plain: one `@`, no spaces or specials, a dot in the domain.
const EMAIL_PATTERN = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:".]+(\.[^\s@<>()[\]\\,;:".]+)+$/;

export function isValidEmailAddress(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 254 && EMAIL_PATTERN.test(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function error(message: string, field: string | null, anchor: string | null): SendgridFieldError {
  return { message, field, help: anchor === null ? null : `${HELP_BASE}#${anchor}` };
}

export const MESSAGES = {
  badRequest: 'Bad Request',
  personalizationsRequired:
    'The personalizations field is required and must have at least one personalization.',
  tooManyPersonalizations: (n: number): string =>
    `The personalization block is limited to ${MAX_PERSONALIZATIONS} personalizations per API request. ` +
    `You have provided ${n} personalizations. Please consider splitting this into multiple requests and resending your request.`,
  tooManyRecipients: `There is a limit of ${MAX_TOTAL_RECIPIENTS} total recipients (to + cc + bcc) per request.`,
  toRequired:
    'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
  invalidAddress: 'Does not contain a valid address.',
  duplicateAddress: (email: string, field: string): string =>
    'Each email address in the personalization block should be unique between to, cc, and bcc. ' +
    `We found the first duplicate instance of [${email}] in the ${field} field.`,
  fromRequired:
    'The from object must be provided for every email send. It is an object that requires an email parameter, but may also contain a name parameter.',
  fromInvalid: 'The from email does not contain a valid address.',
  subjectRequired:
    'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
  subjectInvalid: 'The subject must be a string at least one character in length.',
  contentRequired:
    'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. ' +
    'We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
  contentValue: 'The content value must be a string at least one character in length.',
  contentType: 'The content type must be a string at least one character in length.',
  contentOrder:
    'Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your email: ' +
    'text/plain needs to be first, followed by text/html, followed by any other content.',
  templateIdRequired: 'The template_id is required when using dynamic templates',
  substitutionsWithDynamic: 'Substitutions may not be used with dynamic templating',
  replyToExclusive:
    'The reply_to and reply_to_list fields are mutually exclusive. Please use only one of them.',
} as const;

const RECIPIENT_KINDS = ['to', 'cc', 'bcc'] as const;

/** The recipients of one personalization, in to → cc → bcc order. */
export function personalizationRecipients(p: unknown): string[] {
  if (!isRecord(p)) return [];
  const out: string[] = [];
  for (const kind of RECIPIENT_KINDS) {
    const list = p[kind];
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      if (isRecord(entry) && typeof entry.email === 'string') out.push(entry.email);
    }
  }
  return out;
}

function validatePersonalization(
  p: unknown,
  i: number,
  isDynamic: boolean,
  out: SendgridFieldError[],
): void {
  const base = `personalizations.${i}`;
  if (!isRecord(p)) {
    out.push(error(MESSAGES.toRequired, `${base}.to`, 'message.personalizations.to'));
    return;
  }
  if (!Array.isArray(p.to) || p.to.length === 0) {
    out.push(error(MESSAGES.toRequired, `${base}.to`, 'message.personalizations.to'));
  }
  const seen = new Set<string>();
  let duplicateReported = false;
  for (const kind of RECIPIENT_KINDS) {
    const list = p[kind];
    if (list === undefined || (kind === 'to' && !Array.isArray(list))) continue;
    if (!Array.isArray(list)) {
      out.push(
        error(MESSAGES.invalidAddress, `${base}.${kind}`, `message.personalizations.${kind}`),
      );
      continue;
    }
    list.forEach((entry, j) => {
      const email = isRecord(entry) ? entry.email : undefined;
      if (!isValidEmailAddress(email)) {
        out.push(
          error(
            MESSAGES.invalidAddress,
            `${base}.${kind}.${j}.email`,
            `message.personalizations.${kind}`,
          ),
        );
        return;
      }
      const key = email.toLowerCase();
      if (seen.has(key) && !duplicateReported) {
        duplicateReported = true;
        out.push(
          error(
            MESSAGES.duplicateAddress(email, `${base}.${kind}`),
            base,
            'message.personalizations',
          ),
        );
      }
      seen.add(key);
    });
  }
  if (p.subject !== undefined && !isNonEmptyString(p.subject)) {
    out.push(error(MESSAGES.subjectInvalid, `${base}.subject`, 'message.subject'));
  }
  if (isDynamic && p.substitutions !== undefined) {
    out.push(
      error(
        MESSAGES.substitutionsWithDynamic,
        `${base}.substitutions`,
        'message.personalizations.substitutions',
      ),
    );
  }
}

function validateContent(
  body: Record<string, unknown>,
  hasTemplate: boolean,
  out: SendgridFieldError[],
): void {
  const content = body.content;
  if (content === undefined || (Array.isArray(content) && content.length === 0)) {
    if (!hasTemplate) out.push(error(MESSAGES.contentRequired, 'content', 'message.content'));
    return;
  }
  if (!Array.isArray(content)) {
    out.push(error(MESSAGES.contentRequired, 'content', 'message.content'));
    return;
  }
  const types: string[] = [];
  content.forEach((block, k) => {
    const type = isRecord(block) ? block.type : undefined;
    const value = isRecord(block) ? block.value : undefined;
    if (!isNonEmptyString(type)) {
      out.push(error(MESSAGES.contentType, `content.${k}.type`, 'message.content.type'));
    } else {
      types.push(type.toLowerCase());
    }
    if (!isNonEmptyString(value)) {
      out.push(error(MESSAGES.contentValue, `content.${k}.value`, 'message.content.value'));
    }
  });
  if (!isContentOrderValid(types)) out.push(error(MESSAGES.contentOrder, 'content', null));
}

/** text/plain (at most once) first, then text/html (at most once), then anything else. */
export function isContentOrderValid(types: readonly string[]): boolean {
  let rank = 0;
  for (const type of types) {
    const r = type === 'text/plain' ? 1 : type === 'text/html' ? 2 : 3;
    if (r < rank || (r === rank && r < 3)) return false;
    rank = r;
  }
  return true;
}

/** Returns SendGrid's errors for this body; an empty array means it would be accepted. */
export function validateMailSend(body: unknown): SendgridFieldError[] {
  if (!isRecord(body)) return [error(MESSAGES.badRequest, null, null)];
  const out: SendgridFieldError[] = [];

  const templateId = body.template_id;
  const hasTemplate = isNonEmptyString(templateId);
  const isDynamic = hasTemplate && templateId.startsWith('d-');

  const personalizations = body.personalizations;
  const list = Array.isArray(personalizations) ? personalizations : [];
  if (list.length === 0) {
    out.push(
      error(MESSAGES.personalizationsRequired, 'personalizations', '-Personalizations-Errors'),
    );
  } else if (list.length > MAX_PERSONALIZATIONS) {
    out.push(
      error(
        MESSAGES.tooManyPersonalizations(list.length),
        'personalizations',
        '-Personalizations-Errors',
      ),
    );
  } else {
    list.forEach((p, i) => validatePersonalization(p, i, isDynamic, out));
    const total = list.reduce<number>((n, p) => n + personalizationRecipients(p).length, 0);
    if (total > MAX_TOTAL_RECIPIENTS) {
      out.push(error(MESSAGES.tooManyRecipients, 'personalizations', '-Personalizations-Errors'));
    }
    const usesDynamicData = list.some((p) => isRecord(p) && p.dynamic_template_data !== undefined);
    if (usesDynamicData && !isDynamic) {
      out.push(error(MESSAGES.templateIdRequired, 'template_id', 'message.template_id'));
    }
  }

  if (!isRecord(body.from) || body.from.email === undefined) {
    out.push(error(MESSAGES.fromRequired, 'from', 'message.from'));
  } else if (!isValidEmailAddress(body.from.email)) {
    out.push(error(MESSAGES.fromInvalid, 'from.email', 'message.from'));
  }

  if (body.reply_to !== undefined && body.reply_to_list !== undefined) {
    out.push(error(MESSAGES.replyToExclusive, 'reply_to', 'message.reply_to'));
  }

  const everyPersonalizationHasSubject =
    list.length > 0 && list.every((p) => isRecord(p) && isNonEmptyString(p.subject));
  if (!isNonEmptyString(body.subject) && !everyPersonalizationHasSubject && !hasTemplate) {
    out.push(error(MESSAGES.subjectRequired, 'subject', 'message.subject'));
  }

  validateContent(body, hasTemplate, out);
  return out;
}
