import { createHash, type KeyObject } from 'node:crypto';
import Stripe from 'stripe';
import twilio from 'twilio';
import { batchBody, signEventBatch } from '../email/email-test-app';

export type WebhookProvider = 'stripe' | 'twilio' | 'sendgrid';

/** What the providers sign with, as the service under test is configured. */
export interface WebhookSigningKeys {
  stripeWebhookSecret: string;
  twilioAuthToken: string;
  /** The service's PUBLIC_BASE_URL: Twilio signs the public URL it called. */
  publicBaseUrl: string;
  sendgridPrivateKey: KeyObject;
}

/** A request as `app.inject` takes it. */
export interface Delivery {
  method: 'POST';
  url: string;
  payload: string;
  headers: Record<string, string>;
}

/**
 * A harmless, correctly signed webhook of `provider` (signed with the
 * providers' own helpers), `id` making its event unique: a Stripe
 * `customer.created`, a Twilio `sent` status callback, a SendGrid `open`.
 */
export function signedDelivery(
  provider: WebhookProvider,
  keys: WebhookSigningKeys,
  id: string,
): Delivery {
  const now = Math.floor(Date.now() / 1000);
  switch (provider) {
    case 'stripe': {
      const payload = JSON.stringify({
        id: `evt_${id}`,
        object: 'event',
        created: now,
        type: 'customer.created',
        data: { object: { id: 'cus_1', object: 'customer' } },
      });
      const signature = new Stripe('sk_test_signing').webhooks.generateTestHeaderString({
        payload,
        secret: keys.stripeWebhookSecret,
      });
      return {
        method: 'POST',
        url: '/webhooks/stripe',
        payload,
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      };
    }
    case 'twilio': {
      const sid = `SM${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
      const params = { MessageSid: sid, MessageStatus: 'sent' };
      const signature = twilio.getExpectedTwilioSignature(
        keys.twilioAuthToken,
        `${keys.publicBaseUrl}/webhooks/twilio`,
        params,
      );
      return {
        method: 'POST',
        url: '/webhooks/twilio',
        payload: new URLSearchParams(params).toString(),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': signature,
        },
      };
    }
    case 'sendgrid': {
      const body = batchBody([
        { email: 'a@example.com', event: 'open', timestamp: 1, sg_event_id: `sg-${id}` },
      ]);
      return {
        method: 'POST',
        url: '/webhooks/sendgrid',
        payload: body,
        headers: {
          'content-type': 'application/json',
          'x-twilio-email-event-webhook-signature': signEventBatch(
            body,
            now,
            keys.sendgridPrivateKey,
          ),
          'x-twilio-email-event-webhook-timestamp': String(now),
        },
      };
    }
  }
}
