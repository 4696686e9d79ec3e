import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { AppError } from '../errors/app-error';

/** A page of a list endpoint (CONTRACT §2: newest first, opaque cursor). */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export const DEFAULT_PAGE_LIMIT = 20;
const LIMIT_MESSAGE = 'limit must be an integer from 1 to 100';

/**
 * `limit` and `cursor` of every list endpoint; a module's query DTO extends it
 * with its own filters. Unknown parameters are 400 (the global pipe forbids them).
 */
export class ListQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: DEFAULT_PAGE_LIMIT })
  @IsOptional()
  // Decimal digits only: Number() would also take `1e1`, `0x10` or ` 10`. Anything else stays
  // as given and fails IsInt.
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^[0-9]{1,3}$/.test(value) ? Number(value) : value,
  )
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(100, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

/** Where a page ended: the last row's creation time and id (rows sort by both, newest first). */
export interface CursorPosition {
  createdAt: string;
  id: string;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), 'utf8').toString(
    'base64url',
  );
}

/** The position a cursor names; undefined when it is not one we issued for ids matching `idPattern`. */
export function decodeCursor(cursor: string, idPattern: RegExp): CursorPosition | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
  const [createdAt, id] = parsed as unknown[];
  if (typeof createdAt !== 'string' || typeof id !== 'string') return undefined;
  if (!ISO_UTC.test(createdAt) || !idPattern.test(id)) return undefined;
  const position = { createdAt, id };
  // Node's base64url decoder skips stray characters: accept only the canonical spelling.
  return encodeCursor(position) === cursor ? position : undefined;
}

/** The position of a `cursor` query parameter; 400 `validation_failed` when it is not one we issued. */
export function cursorParam(
  cursor: string | undefined,
  idPattern: RegExp,
): CursorPosition | undefined {
  if (cursor === undefined) return undefined;
  const position = decodeCursor(cursor, idPattern);
  if (!position) {
    throw AppError.validation([{ field: 'cursor', message: 'cursor is not a valid page cursor' }]);
  }
  return position;
}

/**
 * A page from rows fetched with one extra row (see `newestFirstPage`): the
 * extra row only says a next page exists; the cursor names the last row shown.
 */
export function pageOf<R extends { id: string; created_at: string }, T>(
  rows: readonly R[],
  limit: number,
  toData: (page: R[]) => T[],
): Page<T> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    data: toData(page),
    nextCursor:
      rows.length > limit && last
        ? encodeCursor({ createdAt: last.created_at, id: last.id })
        : null,
  };
}
