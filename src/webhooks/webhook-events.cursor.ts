import type { WebhookEventsPosition } from './webhook-events.repository';
import { WEBHOOK_EVENT_ID_PATTERN } from './webhook-event-id';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An opaque page cursor: the position of the last event of the page. */
export function encodeCursor(position: WebhookEventsPosition): string {
  return Buffer.from(JSON.stringify([position.receivedAt, position.id]), 'utf8').toString(
    'base64url',
  );
}

/** The position a cursor names; undefined when it is not one of ours. */
export function decodeCursor(cursor: string): WebhookEventsPosition | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
  const [receivedAt, id] = parsed as unknown[];
  if (typeof receivedAt !== 'string' || typeof id !== 'string') return undefined;
  if (!ISO_UTC.test(receivedAt) || !WEBHOOK_EVENT_ID_PATTERN.test(id)) return undefined;
  const position = { receivedAt, id };
  // Node's base64url decoder skips stray characters; accept only the canonical spelling.
  return encodeCursor(position) === cursor ? position : undefined;
}
