import { idPattern, newId } from '../common/ids';

export const EMAIL_ID_PATTERN = idPattern('eml');

export function newEmailId(now: Date): string {
  return newId('eml', now);
}

/**
 * The custom arg that carries our email id: SendGrid copies custom args into
 * every event about the message, so events find their email even before the
 * send's `X-Message-Id` is recorded.
 */
export const EMAIL_ID_CUSTOM_ARG = 'switchboard_email_id';
