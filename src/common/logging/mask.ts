/**
 * Masking of personal data and secrets in log values (CONTRACT "Logs"):
 * phone numbers keep their last 4 digits, email addresses their domain, and
 * anything shaped like a credential is replaced entirely.
 */

const PHONE = /\+[1-9]\d{6,14}\b/g;
const EMAIL = /([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g;
const SECRET =
  /\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=_-]+|\bSG\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+|\bpi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+|\bsb_dev_[A-Za-z0-9_-]+/g;

export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return `+${'*'.repeat(Math.max(digits.length - 4, 0))}${digits.slice(-4)}`;
}

export function maskEmail(email: string): string {
  return email.replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`);
}

/**
 * What any of the patterns below needs somewhere in the string: most logged
 * values (ids, statuses, types) have none, and one test is cheaper than five
 * replacements on every string of every line.
 */
const MAYBE_SENSITIVE = /[@+%]|_(?:test|live|secret)_|whsec_|SG\.|sb_dev_/;

export function maskString(value: string): string {
  return MAYBE_SENSITIVE.test(value) ? maskAll(value) : value;
}

/** Every replacement, whatever the string holds: {@link maskString} without its shortcut. */
export function maskAll(value: string): string {
  return value
    .replace(SECRET, '[REDACTED]')
    .replace(EMAIL, (_m, first: string, domain: string) => `${first}***@${domain}`)
    .replace(PHONE, (m) => maskPhone(m))
    .replace(
      /%2B([1-9]\d{6,14})\b/gi,
      (_m, digits: string) => `%2B${maskPhone(`+${digits}`).slice(1)}`,
    )
    .replace(/([A-Za-z0-9._+-])[A-Za-z0-9._+-]*%40([A-Za-z0-9.-]+\.[A-Za-z]{2,})/g, '$1***%40$2');
}

const SENSITIVE_KEY =
  /^(authorization|cookie|set-cookie|x-api-key|password|secret|token|api_?key|client_?secret|auth_?token|body|html|text|content|x-twilio-signature|stripe-signature|x-twilio-email-event-webhook-signature)$/i;

/** Deep-copies `value` with secrets redacted and personal data masked. */
export function maskDeep(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return maskString(value);
  if (Array.isArray(value)) return value.map((v) => maskDeep(v, depth + 1));
  // Only plain objects are copied; class instances (requests, errors) are left to their serializers.
  if (
    value &&
    typeof value === 'object' &&
    [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null)
  ) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] =
        SENSITIVE_KEY.test(k) && v !== undefined && v !== null
          ? '[REDACTED]'
          : maskDeep(v, depth + 1);
    }
    return out;
  }
  return value;
}
