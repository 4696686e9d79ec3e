import type { Kysely } from 'kysely';

/** Filled in by its module's issue; registered now so modules do not edit the index at once. */
export async function up(_db: Kysely<unknown>): Promise<void> {}

export async function down(_db: Kysely<unknown>): Promise<void> {}
