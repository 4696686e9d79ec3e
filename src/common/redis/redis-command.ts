import { BackingServiceUnavailableError } from '../errors/unavailable';

/** Replies with which Redis says "not now" (restarting, busy, failing over) rather than "wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|READONLY)\b/;

/**
 * Runs one command on the shared connection. Redis out of reach (or saying
 * "not now") becomes {@link BackingServiceUnavailableError}, answered 503;
 * any other error Redis answered (a `ReplyError`: a bug in our command) stays
 * what it is.
 */
export async function redisCommand<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (err) {
    const { name, message } = err as { name?: unknown; message?: unknown };
    if (name === 'ReplyError' && !TRANSIENT_REPLY.test(String(message))) throw err;
    throw new BackingServiceUnavailableError('redis', err);
  }
}
