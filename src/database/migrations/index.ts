import type { Migration } from 'kysely';
import * as foundation from './001-foundation';
import * as payments from './002-payments';
import * as sms from './003-sms';
import * as email from './004-email';
import * as jobsClaimIndex from './005-jobs-claim-index';
import * as paymentRequestFingerprints from './006-payment-request-fingerprints';

/**
 * Every migration, in order. Listed in code rather than read from a folder so
 * that the compiled service and ts-jest see the same set.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '001-foundation': foundation,
  '002-payments': payments,
  '003-sms': sms,
  '004-email': email,
  '005-jobs-claim-index': jobsClaimIndex,
  '006-payment-request-fingerprints': paymentRequestFingerprints,
};
