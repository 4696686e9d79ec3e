import { idPattern, newId } from '../common/ids';

export const WEBHOOK_EVENT_ID_PATTERN = idPattern('evt');

/** Our id of a stored webhook event; sorts by the time it was made. */
export function newWebhookEventId(now: Date): string {
  return newId('evt', now);
}
