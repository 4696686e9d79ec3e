import type { Migration } from 'kysely';
import * as foundation from './001-foundation';

/**
 * Every migration, in order. Listed in code rather than read from a folder so
 * that the compiled service, ts-jest and the bundled CLI all see the same set.
 * A module adds its own file here: `'00N-name': module`.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '001-foundation': foundation,
};
