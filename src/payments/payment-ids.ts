import { idPattern, newId } from '../common/ids';

export const PAYMENT_ID_PATTERN = idPattern('pay');

export const newPaymentId = (now: Date): string => newId('pay', now);
export const newRefundId = (now: Date): string => newId('ref', now);
