import type { Transaction } from 'kysely';
import type { DatabaseSchema, Db } from './database.types';

type Trx = Transaction<DatabaseSchema>;

const afterCommitHooks = new WeakMap<Trx, (() => void)[]>();

/**
 * Runs `fn` in a transaction and, once it has committed, the callbacks that
 * code inside it registered with {@link afterCommit} (in order; a rollback
 * drops them). This is how a job enqueued inside the transaction is handed to
 * its runner at the moment it becomes visible, without polling for the row.
 */
export async function inTransaction<T>(db: Db, fn: (trx: Trx) => Promise<T>): Promise<T> {
  const hooks: (() => void)[] = [];
  const result = await db.transaction().execute((trx) => {
    afterCommitHooks.set(trx, hooks);
    return fn(trx);
  });
  // Committed: whatever a hook does, the caller's work is done and must be reported so.
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // A hook only hands over work that is already durable; the poll or sweeper picks it up.
    }
  }
  return result;
}

/**
 * Registers `hook` to run after `trx` commits; false when `trx` was not opened
 * by {@link inTransaction}, so the caller must find out about the commit itself.
 */
export function afterCommit(trx: Trx, hook: () => void): boolean {
  const hooks = afterCommitHooks.get(trx);
  if (!hooks) return false;
  hooks.push(hook);
  return true;
}
