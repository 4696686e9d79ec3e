import { JOB_ID_PATTERN, newJobId } from './job-id';

describe('newJobId', () => {
  it('makes prefixed ids that sort by creation time', () => {
    const a = newJobId(new Date('2024-05-01T10:00:00.000Z'));
    const b = newJobId(new Date('2024-05-01T10:00:00.001Z'));
    expect(a).toMatch(JOB_ID_PATTERN);
    expect(a < b).toBe(true);
    expect(newJobId(new Date(0))).not.toBe(newJobId(new Date(0)));
  });
});
