/**
 * Stripe's documented test PaymentMethods (https://docs.stripe.com/testing)
 * and what confirming a PaymentIntent with each does.
 */

export interface CardDecline {
  code: string;
  declineCode: string;
  message: string;
}

export interface TestCard {
  brand: 'visa' | 'mastercard' | 'amex';
  last4: string;
  funding: 'credit' | 'debit';
  country: string;
  /** `authenticate`: 3D Secure is required on every payment (the PI ends `requires_action`). */
  outcome: 'succeed' | 'decline' | 'authenticate';
  decline?: CardDecline;
}

const DECLINED = 'Your card was declined.';

function declined(last4: string, code: string, declineCode: string, message = DECLINED): TestCard {
  return {
    brand: 'visa',
    last4,
    funding: 'credit',
    country: 'US',
    outcome: 'decline',
    decline: { code, declineCode, message },
  };
}

export const TEST_CARDS: Readonly<Record<string, TestCard>> = {
  pm_card_visa: {
    brand: 'visa',
    last4: '4242',
    funding: 'credit',
    country: 'US',
    outcome: 'succeed',
  },
  pm_card_visa_debit: {
    brand: 'visa',
    last4: '5556',
    funding: 'debit',
    country: 'US',
    outcome: 'succeed',
  },
  pm_card_mastercard: {
    brand: 'mastercard',
    last4: '4444',
    funding: 'credit',
    country: 'US',
    outcome: 'succeed',
  },
  pm_card_amex: {
    brand: 'amex',
    last4: '8431',
    funding: 'credit',
    country: 'US',
    outcome: 'succeed',
  },
  pm_card_chargeDeclined: declined('0002', 'card_declined', 'generic_decline'),
  pm_card_chargeDeclinedInsufficientFunds: declined(
    '9995',
    'card_declined',
    'insufficient_funds',
    'Your card has insufficient funds.',
  ),
  pm_card_chargeDeclinedLostCard: declined('9987', 'card_declined', 'lost_card'),
  pm_card_chargeDeclinedStolenCard: declined('9979', 'card_declined', 'stolen_card'),
  pm_card_chargeDeclinedFraudulent: declined('0019', 'card_declined', 'fraudulent'),
  pm_card_chargeDeclinedExpiredCard: declined(
    '0069',
    'expired_card',
    'expired_card',
    'Your card has expired.',
  ),
  pm_card_chargeDeclinedIncorrectCvc: declined(
    '0127',
    'incorrect_cvc',
    'incorrect_cvc',
    "Your card's security code is incorrect.",
  ),
  pm_card_chargeDeclinedProcessingError: declined(
    '0119',
    'processing_error',
    'processing_error',
    'An error occurred while processing your card. Try again in a little bit.',
  ),
  pm_card_authenticationRequired: {
    brand: 'visa',
    last4: '3184',
    funding: 'credit',
    country: 'US',
    outcome: 'authenticate',
  },
  pm_card_threeDSecure2Required: {
    brand: 'visa',
    last4: '3220',
    funding: 'credit',
    country: 'US',
    outcome: 'authenticate',
  },
};

/** Off-session (or `error_on_requires_action`) confirmation of a card that needs 3D Secure. */
export const AUTHENTICATION_REQUIRED: CardDecline = {
  code: 'authentication_required',
  declineCode: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
};
