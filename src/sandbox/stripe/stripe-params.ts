import type { FormObject, FormValue } from '../core/form-body';
import { paramError } from './stripe-errors';
import type { Metadata } from './stripe.types';

function describe(value: FormValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Typed reads of form parameters with Stripe's messages for the mistakes a
 * client can make (missing, unknown, wrong type, not in the enum).
 */
export class StripeParams {
  constructor(
    readonly values: FormObject,
    allowed: readonly string[],
  ) {
    for (const key of Object.keys(values)) {
      if (!allowed.includes(key))
        throw paramError(`Received unknown parameter: ${key}`, key, 'parameter_unknown');
    }
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  string(name: string, opts: { required?: boolean; maxLength?: number } = {}): string | undefined {
    const value = this.values[name];
    if (value === undefined) {
      if (opts.required)
        throw paramError(`Missing required param: ${name}.`, name, 'parameter_missing');
      return undefined;
    }
    if (typeof value !== 'string') throw paramError(`Invalid string: ${describe(value)}`, name);
    if (opts.required && value === '') {
      throw paramError(
        `You passed an empty string for '${name}'. We assume empty values are an attempt to unset a parameter; however '${name}' cannot be unset. You should remove '${name}' from your request or supply a non-empty value.`,
        name,
        'parameter_invalid_empty',
      );
    }
    if (opts.maxLength !== undefined && value.length > opts.maxLength) {
      throw paramError(
        `Invalid string: ${value.slice(0, 20)}...; must be at most ${opts.maxLength} characters`,
        name,
      );
    }
    return value;
  }

  /** An optional string where `''` means "unset" (Stripe's convention): returned as null. */
  nullableString(name: string, maxLength?: number): string | null | undefined {
    const value = this.string(name, { maxLength });
    return value === '' ? null : value;
  }

  enum<T extends string>(
    name: string,
    allowed: readonly T[],
    opts: { required?: boolean } = {},
  ): T | undefined {
    const value = this.string(name, opts);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      const list =
        allowed.length > 1
          ? `${allowed.slice(0, -1).join(', ')}, or ${allowed[allowed.length - 1]}`
          : allowed[0];
      throw paramError(`Invalid ${name}: must be one of ${list}`, name);
    }
    return value as T;
  }

  integer(name: string, opts: { required?: boolean } = {}): number | undefined {
    const value = this.string(name, opts);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw paramError(`Invalid integer: ${value}`, name, 'parameter_invalid_integer');
    }
    return Number(value);
  }

  boolean(name: string): boolean | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw paramError(`Invalid boolean: ${value}`, name);
    return value === 'true';
  }

  object(name: string, allowedKeys: readonly string[]): FormObject | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (typeof value === 'string' || Array.isArray(value)) throw paramError(`Invalid object`, name);
    for (const key of Object.keys(value)) {
      if (!allowedKeys.includes(key))
        throw paramError(
          `Received unknown parameter: ${name}[${key}]`,
          `${name}[${key}]`,
          'parameter_unknown',
        );
    }
    return value;
  }

  stringArray(name: string): string[] | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw paramError(`Invalid array`, name);
    return value.map((item, i) => {
      if (typeof item !== 'string')
        throw paramError(`Invalid string: ${describe(item)}`, `${name}[${i}]`);
      return item;
    });
  }

  /** Stripe's metadata rules: ≤ 50 keys, keys ≤ 40 characters, values ≤ 500; `''` unsets. */
  metadata(name = 'metadata'): Metadata | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (value === '') return {};
    if (typeof value === 'string' || Array.isArray(value)) throw paramError('Invalid object', name);
    const entries = Object.entries(value);
    if (entries.length > 50) throw paramError('You can specify up to 50 keys in metadata.', name);
    const out: Metadata = {};
    for (const [key, v] of entries) {
      if (typeof v !== 'string')
        throw paramError(`Invalid string: ${describe(v)}`, `${name}[${key}]`);
      if (key.length > 40)
        throw paramError(
          'Metadata keys can have a maximum length of 40 characters.',
          `${name}[${key}]`,
        );
      if (v.length > 500)
        throw paramError(
          'Metadata values can have a maximum length of 500 characters.',
          `${name}[${key}]`,
        );
      // An empty value removes the key (Stripe's convention); on create it is simply absent.
      if (v !== '') out[key] = v;
    }
    return out;
  }
}
