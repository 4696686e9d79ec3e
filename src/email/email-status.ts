/**
 * The status rules of CONTRACT "Email": a recipient's status only moves
 * forward by rank, and the email's status is derived from its recipients.
 */

export type RecipientStatus =
  'queued' | 'sent' | 'processed' | 'deferred' | 'delivered' | 'bounced' | 'dropped';

export type EmailStatus = RecipientStatus | 'partially_delivered' | 'failed';

export const EMAIL_STATUSES: readonly EmailStatus[] = [
  'queued',
  'sent',
  'processed',
  'deferred',
  'delivered',
  'bounced',
  'dropped',
  'partially_delivered',
  'failed',
];

export const RECIPIENT_STATUSES: readonly RecipientStatus[] = [
  'queued',
  'sent',
  'processed',
  'deferred',
  'delivered',
  'bounced',
  'dropped',
];

export type RecipientKind = 'to' | 'cc' | 'bcc';

/** `queued` < `sent` < `processed` < `deferred` < (`delivered` | `bounced` | `dropped`). */
export function recipientRank(status: RecipientStatus): number {
  switch (status) {
    case 'queued':
      return 0;
    case 'sent':
      return 1;
    case 'processed':
      return 2;
    case 'deferred':
      return 3;
    case 'delivered':
    case 'bounced':
    case 'dropped':
      return 4;
  }
}

export const FINAL_RANK = 4;

/**
 * The email's status: `failed` while nothing was handed to SendGrid and the
 * send gave up; the lowest recipient status while any is not final; once all
 * are final, their common status, or `partially_delivered` when they differ.
 */
export function deriveEmailStatus(
  recipients: readonly RecipientStatus[],
  failed: boolean,
): EmailStatus {
  if (recipients.length === 0) return failed ? 'failed' : 'queued';
  let lowest = recipients[0];
  for (const status of recipients) {
    if (recipientRank(status) < recipientRank(lowest)) lowest = status;
  }
  if (lowest === 'queued' && failed) return 'failed';
  if (recipientRank(lowest) < FINAL_RANK) return lowest;
  return recipients.every((s) => s === recipients[0]) ? recipients[0] : 'partially_delivered';
}

/** SendGrid's delivery events and the recipient status each one means. */
const DELIVERY_EVENTS: Readonly<Record<string, RecipientStatus>> = {
  processed: 'processed',
  deferred: 'deferred',
  delivered: 'delivered',
  bounce: 'bounced',
  dropped: 'dropped',
};

/** Engagement: recorded in the email's events, never a status change. */
export const ENGAGEMENT_EVENTS: readonly string[] = [
  'open',
  'click',
  'spamreport',
  'unsubscribe',
  'group_unsubscribe',
  'group_resubscribe',
];

/** The recipient status a SendGrid event moves towards; undefined for engagement and unknown types. */
export function statusForEvent(type: string): RecipientStatus | undefined {
  return Object.prototype.hasOwnProperty.call(DELIVERY_EVENTS, type)
    ? DELIVERY_EVENTS[type]
    : undefined;
}
