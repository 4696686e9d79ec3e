import { canonicalJson } from '../core/form-body';
import type { FormObject } from '../core/form-body';
import { idempotencyError } from './stripe-errors';

export interface StoredResponse {
  method: string;
  path: string;
  params: string;
  requestId: string;
  status: number;
  body: string;
}

/**
 * Stripe's idempotent requests (https://docs.stripe.com/api/idempotent_requests):
 * a key replays the first response for the same endpoint and parameters, and
 * is an `idempotency_error` for anything else.
 */
export class IdempotencyStore {
  private readonly responses = new Map<string, StoredResponse>();

  /** The stored response to replay, undefined for a fresh key; throws on a mismatch. */
  find(key: string, method: string, path: string, params: FormObject): StoredResponse | undefined {
    const stored = this.responses.get(key);
    if (!stored) return undefined;
    if (stored.method !== method || stored.path !== path) {
      throw idempotencyError(
        `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${stored.method} ${stored.path}' vs '${method} ${path}'). Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (stored.params !== canonicalJson(params)) {
      throw idempotencyError(
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    return stored;
  }

  save(key: string, response: Omit<StoredResponse, 'params'> & { params: FormObject }): void {
    this.responses.set(key, { ...response, params: canonicalJson(response.params) });
  }

  clear(): void {
    this.responses.clear();
  }
}
