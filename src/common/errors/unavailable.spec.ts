import { toAppError } from './to-app-error';
import { BackingServiceUnavailableError, unavailableService } from './unavailable';

describe(unavailableService.name, () => {
  const withCode = (code: string, message = 'x'): Error =>
    Object.assign(new Error(message), { code });

  it.each([
    ['a refused connection', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a reset connection', withCode('ECONNRESET')],
    ['PostgreSQL shutting down (57P01)', withCode('57P01', 'terminating connection')],
    ['PostgreSQL starting up (57P03)', withCode('57P03', 'the database system is starting up')],
    ['a connection exception (08006)', withCode('08006')],
    ['too many connections (53300)', withCode('53300')],
    ['pg losing the connection mid-query', new Error('Connection terminated unexpectedly')],
    ['pg timing out on connect', new Error('timeout exceeded when trying to connect')],
  ])('names the database for %s, answered 503', (_, err) => {
    expect(unavailableService(err)).toBe('database');
    expect(toAppError(err)).toMatchObject({ status: 503, code: 'provider_unavailable' });
  });

  it('names the server our own error says', () => {
    const err = new BackingServiceUnavailableError('redis', new Error('Command timed out'));
    expect(unavailableService(err)).toBe('redis');
    expect(err.message).toBe('redis unavailable: Command timed out');
  });

  it.each([
    ['a unique violation', withCode('23505', 'duplicate key value')],
    ['a syntax error in our SQL', withCode('42601', 'syntax error at or near')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a non-error', 'boom'],
  ])('leaves %s alone: a 500, not a 503', (_, err) => {
    expect(unavailableService(err)).toBeUndefined();
    expect(toAppError(err)).toMatchObject({ status: 500, code: 'internal_error' });
  });
});
