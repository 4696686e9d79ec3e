import { Writable } from 'node:stream';
import { loadAppConfig } from '../../config/app.config';
import { createRootLogger } from './logging.module';

describe(createRootLogger.name, () => {
  const linesOf = (log: (logger: ReturnType<typeof createRootLogger>) => void) => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    log(createRootLogger(loadAppConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info' }), destination));
    return lines;
  };

  it('keeps the type of an error logged as { type, message }, and serializes a real Error', () => {
    const [plain, real] = linesOf((logger) => {
      logger.error({ err: { type: 'TypeError', message: 'x is not a function' } }, 'unhandled');
      logger.error({ err: new RangeError('too far') }, 'thrown');
    });
    expect(plain.err).toEqual({ type: 'TypeError', message: 'x is not a function' });
    expect(real.err).toMatchObject({ type: 'RangeError', message: 'too far' });
    expect((real.err as { stack?: string }).stack).toMatch(/RangeError: too far/);
  });
});
