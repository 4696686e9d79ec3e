/**
 * Rows per multi-row INSERT: well under the bound-parameter limits of both
 * dialects (SQLite 32 766, PostgreSQL 65 535) for our widest tables (≈ 12
 * columns), and large enough that a batch of webhooks is one statement.
 */
export const INSERT_CHUNK_ROWS = 200;

/** `items` in consecutive slices of at most `size` (none for an empty list). */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  if (!Number.isInteger(size) || size < 1) throw new Error('chunk size must be a positive integer');
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
