/** Metadata key under which {@link WebhookHandler} records its bindings on a method. */
export const WEBHOOK_HANDLER_METADATA = 'switchboard:webhook-handler';

/** Binds every event type of a provider. */
export const ANY_WEBHOOK_TYPE = '*';

/** What a webhook handler learns about the stored event besides its payload. */
export interface WebhookEventContext {
  /** Our row id (`evt_…`). */
  eventRowId: string;
  provider: string;
  /** The provider's event id (Stripe `evt_…`, SendGrid `sg_event_id`, …). */
  eventId: string;
  type: string;
  /** When we stored it; handlers ordering events by arrival use this. */
  receivedAt: Date;
  /** 1 on the event's first processing attempt; replays keep counting. */
  attempt: number;
}

export interface WebhookHandlerBinding {
  provider: string;
  type: string;
}

export type WebhookHandlerFn = (payload: unknown, context: WebhookEventContext) => unknown;

/** The bindings recorded on a method, empty when it is not a webhook handler. */
export function webhookHandlerBindings(method: unknown): readonly WebhookHandlerBinding[] {
  if (typeof method !== 'function') return [];
  return (
    (Reflect.getMetadata(WEBHOOK_HANDLER_METADATA, method) as
      WebhookHandlerBinding[] | undefined) ?? []
  );
}

/**
 * Makes a method of any singleton provider (or controller) handle stored
 * webhook events of `provider` and `type` (`'*'` for every type). It is called
 * with the parsed payload and a {@link WebhookEventContext}; a throw marks the
 * event `failed` and retries it, so handlers must be idempotent. Stackable.
 *
 * @example
 * ```ts
 * @WebhookHandler('stripe', 'payment_intent.succeeded')
 * async onSucceeded(event: unknown, ctx: WebhookEventContext) { … }
 * ```
 */
export function WebhookHandler(provider: string, type: string): MethodDecorator {
  if (!provider || !type) throw new Error('WebhookHandler needs a provider and an event type');
  return (_target, _key, descriptor) => {
    const method: unknown = descriptor.value;
    if (typeof method !== 'function') throw new Error('WebhookHandler decorates methods only');
    Reflect.defineMetadata(
      WEBHOOK_HANDLER_METADATA,
      [...webhookHandlerBindings(method), { provider, type }],
      method,
    );
    return descriptor;
  };
}
