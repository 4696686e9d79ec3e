import { idPattern, newId } from '../common/ids';

export const JOB_ID_PATTERN = idPattern('job');

export function newJobId(now: Date): string {
  return newId('job', now);
}
