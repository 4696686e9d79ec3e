import { idPattern, newId } from '../common/ids';

export const SMS_ID_PATTERN = idPattern('sms');

export function newSmsId(now: Date): string {
  return newId('sms', now);
}
