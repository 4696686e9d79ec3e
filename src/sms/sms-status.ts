/** A message's status (CONTRACT "SMS"): it only ever moves up this ranking. */
export type SmsStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';

export const SMS_STATUSES: readonly SmsStatus[] = [
  'queued',
  'sending',
  'sent',
  'delivered',
  'undelivered',
  'failed',
];

const RANK: Readonly<Record<SmsStatus, number>> = {
  queued: 0,
  sending: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
};

export function rankOf(status: SmsStatus): number {
  return RANK[status];
}

/** The terminal statuses: nothing changes them any more. */
export function isFinal(status: SmsStatus): boolean {
  return RANK[status] === 3;
}

/** The statuses a message may leave for `next`: those ranked strictly below it. */
export function statusesBelow(next: SmsStatus): SmsStatus[] {
  return SMS_STATUSES.filter((s) => RANK[s] < RANK[next]);
}

/** The higher-ranked of two statuses (`current` on a tie: a terminal status is never replaced). */
export function forward(current: SmsStatus, next: SmsStatus): SmsStatus {
  return RANK[next] > RANK[current] ? next : current;
}

/**
 * Twilio's `MessageStatus` → ours, per the contract; undefined for statuses
 * that are only recorded in `events` (`receiving`, `partially_delivered`,
 * anything Twilio adds later).
 */
export function fromTwilioStatus(twilioStatus: string): SmsStatus | undefined {
  switch (twilioStatus) {
    case 'accepted':
    case 'scheduled':
    case 'queued':
      return 'queued';
    case 'sending':
      return 'sending';
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'read':
      return 'delivered';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
    case 'canceled':
      return 'failed';
    default:
      return undefined;
  }
}
