/**
 * The SMS tables, as both dialects store them (times ISO 8601 UTC strings,
 * JSON as text). Declared here and merged into the shared schema, so the
 * database module does not know about SMS.
 */
export interface SmsMessagesTable {
  id: string;
  to_number: string;
  /** Null until Twilio assigns a sender (Messaging Service without a From). */
  from_number: string | null;
  body: string;
  status: 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';
  /** Twilio's Message SID (`SM…`), unique once set. */
  provider_id: string | null;
  error_code: string | null;
  /** Our safe text for `error_code`; what clients see. */
  error_message: string | null;
  /** Twilio's own message for the last error: for operators, never sent to clients. */
  provider_error: string | null;
  attempts: number;
  metadata: string;
  created_at: string;
  updated_at: string;
}

/** Every status callback Twilio made for a message, keyed by the stored webhook event. */
export interface SmsEventsTable {
  id: string;
  message_id: string;
  /** Twilio's `MessageStatus` as received (also values we do not map, such as `read`). */
  status: string;
  error_code: string | null;
  at: string;
}

/** SMS received on our numbers (Twilio's incoming-message webhook). */
export interface SmsInboundMessagesTable {
  provider_id: string;
  from_number: string;
  to_number: string;
  body: string;
  messaging_service_sid: string | null;
  num_media: number;
  /** JSON array of `{ url, contentType }`. */
  media: string;
  webhook_event_id: string;
  received_at: string;
}

declare module '../database/database.types' {
  interface DatabaseSchema {
    sms_messages: SmsMessagesTable;
    sms_events: SmsEventsTable;
    sms_inbound_messages: SmsInboundMessagesTable;
  }
}
