import { BackingServiceUnavailableError } from '../errors/unavailable';
import { redisCommand } from './redis-command';

/** What ioredis rejects with when Redis itself answers an error. */
function replyError(message: string): Error {
  const err = new Error(message);
  err.name = 'ReplyError';
  return err;
}

describe(redisCommand.name, () => {
  it('passes the result through', async () => {
    await expect(redisCommand(() => Promise.resolve(42))).resolves.toBe(42);
  });

  it.each([
    [
      'no connection (offline queue off)',
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
    ],
    ['no answer in time', new Error('Command timed out')],
    [
      'Redis still loading its data after a restart',
      replyError('LOADING Redis is loading the dataset in memory'),
    ],
    [
      'a replica after failover',
      replyError("READONLY You can't write against a read only replica."),
    ],
  ])('turns %s into BackingServiceUnavailableError', async (_, err) => {
    const run = redisCommand(() => Promise.reject(err));
    await expect(run).rejects.toBeInstanceOf(BackingServiceUnavailableError);
    await expect(run).rejects.toMatchObject({ service: 'redis' });
  });

  it('lets an error Redis answered about our command through unchanged', async () => {
    const err = replyError('ERR Error running script: attempt to compare nil with number');
    await expect(redisCommand(() => Promise.reject(err))).rejects.toBe(err);
  });
});
