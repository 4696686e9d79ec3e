import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

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
  @Type(() => Number)
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
  return Buffer.from(JSON.stringify([position.createdAt, position.id]), 'utf8').toString('base64url');
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
