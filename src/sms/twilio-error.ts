/**
 * What can go wrong in a call to Twilio, in our terms. `retryable`: Twilio
 * did not take the request, try again later (refused connection, 409, 429,
 * 5xx); `permanent`: Twilio refused the request and would refuse it again
 * (the other 4xx); `unknown`: the request went out and no answer came back
 * (a timeout, a connection dropped mid-request), so Twilio may have created
 * the message, and sending again at once could deliver it twice.
 */
export type TwilioFailureKind = 'retryable' | 'permanent' | 'unknown';

export class TwilioError extends Error {
  override readonly name = 'TwilioError';

  constructor(
    readonly kind: TwilioFailureKind,
    /** Safe to show a client: never Twilio's own text. */
    readonly safeMessage: string,
    readonly details: {
      /** HTTP status, when Twilio answered. */
      httpStatus?: number;
      /** Twilio's error code (e.g. 21211), when it sent one. */
      code?: number;
      /** Twilio's own message or the network error: for logs and operators only. */
      providerMessage?: string;
      /** When Twilio named a time to come back (`Retry-After`). */
      retryAfterMs?: number;
    } = {},
  ) {
    super(safeMessage);
  }

  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }

  /** What `errorCode` shows for a permanent failure: Twilio's code, else the HTTP status. */
  get errorCode(): string {
    return String(this.details.code ?? this.details.httpStatus ?? 'provider_rejected');
  }
}

/** Our wording for Twilio's errors that clients meet; Twilio's own text may quote data back. */
const SAFE_MESSAGES: Readonly<Record<number, string>> = {
  20003: 'Twilio refused the configured credentials',
  21211: 'the to number is not a valid phone number',
  21212: 'the from number is not a valid sender',
  21266: 'to and from must differ',
  21408: 'sending to the region of the to number is not enabled',
  21602: 'the message body is required',
  21603: 'a sender is required',
  21606: 'the from number cannot send to this destination',
  21610: 'the recipient has unsubscribed from this sender',
  21611: 'the sender has too many queued messages',
  21612: 'the to number cannot receive SMS from this sender',
  21614: 'the to number is not a mobile number',
  21617: 'the message body is too long',
  21701: 'the Messaging Service is invalid',
  30001: 'the message queue overflowed',
  30002: 'the Twilio account is suspended',
  30003: 'the destination handset is unreachable',
  30004: 'the message was blocked',
  30005: 'the destination handset is unknown',
  30006: 'the destination is a landline or its carrier is unreachable',
  30007: 'the message was filtered by the carrier',
  30008: 'the message could not be delivered (unknown error)',
};

/** A client-safe message for a Twilio error code. */
export function safeTwilioMessage(code: number | string | undefined): string {
  const n = Number(code);
  if (Number.isInteger(n) && SAFE_MESSAGES[n]) return SAFE_MESSAGES[n];
  if (Number.isInteger(n) && n >= 30000 && n < 40000)
    return `the message could not be delivered (Twilio error ${n})`;
  return code === undefined
    ? 'Twilio rejected the message'
    : `Twilio rejected the message (error ${String(code)})`;
}
