import type { EmailStatus, RecipientKind, RecipientStatus } from './email-status';

/** The email tables (migration 004-email), as both dialects store them: ISO times and JSON as text. */
export interface EmailsTable {
  id: string;
  status: EmailStatus;
  from_email: string;
  reply_to: string | null;
  /** JSON arrays of addresses. */
  to_list: string;
  cc_list: string | null;
  bcc_list: string | null;
  subject: string | null;
  text_body: string | null;
  html_body: string | null;
  template_id: string | null;
  /** JSON object. */
  template_data: string | null;
  /** JSON array. */
  categories: string | null;
  /** JSON object of strings. */
  metadata: string;
  /** SendGrid's `X-Message-Id`. */
  provider_message_id: string | null;
  error_code: string | null;
  error_message: string | null;
  /** Requests made to SendGrid for this email. */
  attempts: number;
  created_at: string;
  updated_at: string;
}

export interface EmailRecipientsTable {
  email_id: string;
  /** Order of the request: to, then cc, then bcc. */
  position: number;
  address: string;
  /** Lower-cased address: how SendGrid's events are matched to recipients. */
  address_key: string;
  kind: RecipientKind;
  status: RecipientStatus;
  /** The rank of `status`, so that "only forward" is one conditional UPDATE. */
  rank: number;
  reason: string | null;
  updated_at: string;
}

export interface EmailEventsTable {
  email_id: string;
  /** The webhook event's id (`sg_event_id`, or a hash of the event): recorded once. */
  event_key: string;
  /** SendGrid's `event`. */
  type: string;
  recipient: string | null;
  reason: string | null;
  /** The event's own `timestamp`. */
  occurred_at: string;
  /** Our stored webhook event id (`evt_…`): it sorts by arrival, which breaks ties of `occurred_at`. */
  arrival: string;
}

declare module '../database/database.types' {
  interface DatabaseSchema {
    emails: EmailsTable;
    email_recipients: EmailRecipientsTable;
    email_events: EmailEventsTable;
  }
}
