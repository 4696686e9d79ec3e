/**
 * Where a stored status callback keeps the message id our callback URL named
 * (never a Twilio parameter name): how a callback finds a message whose
 * create request went unanswered, so its SID is not known yet.
 */
export const OUR_MESSAGE_ID_KEY = 'switchboard:messageId';

/** Twilio's form parameters as received: repeated names keep every value, in order. */
export type TwilioParams = Record<string, string | string[]>;

/**
 * Decodes an `application/x-www-form-urlencoded` body from its raw bytes (what
 * Twilio signed), into an object without a prototype so no name is special.
 */
export function parseTwilioForm(raw: Buffer): TwilioParams {
  const params = Object.create(null) as TwilioParams;
  for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) {
    const seen = params[name];
    if (seen === undefined) params[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else params[name] = [seen, value];
  }
  return params;
}

/** A parameter's single value (the first when repeated); undefined when absent. */
export function paramOf(params: TwilioParams, name: string): string | undefined {
  const value = params[name];
  return Array.isArray(value) ? value[0] : value;
}
