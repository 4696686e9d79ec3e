import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError } from '../errors/app-error';

/** Flattens class-validator's tree into one `{ field, message }` per problem, with dotted paths. */
export function flattenValidationErrors(
  errors: ValidationError[],
  prefix = '',
): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    for (const [rule, message] of Object.entries(e.constraints ?? {})) {
      out.push({
        field,
        message: rule === 'whitelistValidation' ? `${field} is not a known field` : message,
      });
    }
    if (e.children?.length) out.push(...flattenValidationErrors(e.children, field));
  }
  return out;
}

/** The path of the first string within `value` (at most `depth` levels down) holding U+0000, or undefined. */
export function findNulCharacter(value: unknown, path: string, depth = 8): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined;
  if (depth === 0 || value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = findNulCharacter(item, path ? `${path}.${key}` : key, depth - 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Refuses a NUL character (U+0000) anywhere in a body, query or path value
 * before anything else looks at it: PostgreSQL cannot store one in text (the
 * query would fail as a 500), and no value of our API has a use for it.
 */
class ContractValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'custom') {
      const field = findNulCharacter(value, metadata.data ?? '');
      if (field !== undefined)
        throw AppError.validation([
          {
            field: field || metadata.type,
            message: `${field || metadata.type} must not contain NUL characters`,
          },
        ]);
    }
    return super.transform(value, metadata);
  }
}

/**
 * The global pipe: unknown fields are errors (not silently dropped), values are
 * transformed to the DTO's types, NUL characters are refused, and failures
 * have the contract's shape.
 */
export function createValidationPipe(): ValidationPipe {
  return new ContractValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => AppError.validation(flattenValidationErrors(errors)),
  });
}
