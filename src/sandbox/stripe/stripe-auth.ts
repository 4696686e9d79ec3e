import { StripeApiError } from './stripe-errors';

function mask(key: string): string {
  return key.length <= 12
    ? '*'.repeat(key.length)
    : `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}`;
}

/** Bearer with the secret key, or Basic with the key as user name (what curl -u does); else Stripe's 401. */
export function authenticate(authorization: string | undefined, secretKey: string): void {
  let key: string | undefined;
  if (authorization?.startsWith('Bearer ')) key = authorization.slice(7).trim();
  else if (authorization?.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    key = decoded.split(':')[0];
  }
  if (!key) {
    throw new StripeApiError(401, {
      type: 'invalid_request_error',
      message:
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
    });
  }
  if (key !== secretKey) {
    throw new StripeApiError(401, {
      type: 'invalid_request_error',
      message: `Invalid API Key provided: ${mask(key)}`,
    });
  }
}
