import type { EmulatorContext, OutgoingWebhook } from '../core/types';
import type { FormObject } from '../core/form-body';
import { paramError, resourceMissing } from './stripe-errors';
import { StripeParams } from './stripe-params';
import { stripeSignatureHeader } from './stripe-signature';
import type { StripeEvent, StripeList } from './stripe.types';

function matches(type: string, pattern: string): boolean {
  return pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern;
}

/** `GET /v1/events`: newest first, `limit` 1–100, cursors, `type` (with `.*`) and `types[]` filters. */
export function listEvents(
  events: readonly StripeEvent[],
  values: FormObject,
): StripeList<StripeEvent> {
  const p = new StripeParams(values, [
    'limit',
    'starting_after',
    'ending_before',
    'type',
    'types',
    'expand',
    'created',
    'delivery_success',
  ]);
  const limit = p.integer('limit') ?? 10;
  if (limit < 1 || limit > 100) throw paramError('This value must be between 1 and 100.', 'limit');
  const startingAfter = p.string('starting_after');
  const endingBefore = p.string('ending_before');
  if (startingAfter !== undefined && endingBefore !== undefined) {
    throw paramError(
      'You may only specify one of these parameters: ending_before, starting_after.',
      'starting_after',
      'parameters_exclusive',
    );
  }
  const type = p.string('type');
  const types = p.stringArray('types');
  let list = [...events].reverse();
  if (type !== undefined) list = list.filter((e) => matches(e.type, type));
  if (types !== undefined) list = list.filter((e) => types.some((t) => matches(e.type, t)));

  let page: StripeEvent[];
  let hasMore: boolean;
  if (startingAfter !== undefined) {
    const index = list.findIndex((e) => e.id === startingAfter);
    if (index < 0) throw resourceMissing('event', startingAfter, 'starting_after', 400);
    page = list.slice(index + 1, index + 1 + limit);
    hasMore = list.length > index + 1 + limit;
  } else if (endingBefore !== undefined) {
    const index = list.findIndex((e) => e.id === endingBefore);
    if (index < 0) throw resourceMissing('event', endingBefore, 'ending_before', 400);
    page = list.slice(Math.max(0, index - limit), index);
    hasMore = index - limit > 0;
  } else {
    page = list.slice(0, limit);
    hasMore = list.length > limit;
  }
  return { object: 'list', data: page, has_more: hasMore, url: '/v1/events' };
}

/** The POST Stripe makes to a webhook endpoint: pretty-printed JSON, signed per attempt. */
export function eventWebhook(
  event: StripeEvent,
  url: string,
  secret: string,
  ctx: EmulatorContext,
): OutgoingWebhook {
  return {
    url,
    body: JSON.stringify(event, null, 2),
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'Cache-Control': 'no-cache',
      Accept: '*/*; q=0.5, application/xml',
    },
    // Stripe signs each attempt with that attempt's time.
    resign: (body) => ({
      'Stripe-Signature': stripeSignatureHeader(
        secret,
        body,
        Math.floor(ctx.now().getTime() / 1000),
      ),
    }),
  };
}
