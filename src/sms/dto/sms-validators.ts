import { registerDecorator, ValidationOptions } from 'class-validator';

export const E164 = /^\+[1-9]\d{6,14}$/;
export const MAX_BODY_CODE_POINTS = 1600;
export const METADATA_MAX_KEYS = 50;
export const METADATA_MAX_KEY_LENGTH = 40;
export const METADATA_MAX_VALUE_LENGTH = 500;

// A UTF-16 surrogate without its pair: not a character, and it cannot be form-encoded for Twilio.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A well-formed string of `min`–`max` Unicode code points (Twilio counts characters, not UTF-16 units). */
export function CodePointLength(
  min: number,
  max: number,
  options?: ValidationOptions,
): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'codePointLength',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate(value: unknown): boolean {
          if (typeof value !== 'string' || LONE_SURROGATE.test(value)) return false;
          let n = 0;
          for (const _ of value) if (++n > max) return false;
          return n >= min;
        },
      },
    });
}

/** Why `value` is not valid metadata (≤ 50 string pairs, key 1–40, value ≤ 500 characters); undefined when valid. */
export function metadataProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'metadata must be an object of strings';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > METADATA_MAX_KEYS)
    return `metadata may have at most ${METADATA_MAX_KEYS} keys`;
  for (const [key, v] of entries) {
    if (key.length < 1 || key.length > METADATA_MAX_KEY_LENGTH)
      return `metadata keys must be 1–${METADATA_MAX_KEY_LENGTH} characters`;
    if (typeof v !== 'string') return `metadata.${key} must be a string`;
    if (v.length > METADATA_MAX_VALUE_LENGTH)
      return `metadata.${key} must be at most ${METADATA_MAX_VALUE_LENGTH} characters`;
  }
  return undefined;
}

/** Stripe-style metadata: at most 50 string pairs, keys up to 40 and values up to 500 characters. */
export function IsMetadata(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isMetadata',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) => metadataProblem(value) === undefined,
        defaultMessage: (args) => metadataProblem(args?.value) ?? 'metadata is invalid',
      },
    });
}
