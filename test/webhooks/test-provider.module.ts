import { Body, Controller, Injectable, Module, Post } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebhookEventContext, WebhookHandler } from '../../src/webhooks/webhook-handler.decorator';
import { WebhookInbox } from '../../src/webhooks/webhook-inbox.service';
import {
  headerOf,
  invalidSignature,
  rawBodyOf,
  WebhookEndpoint,
  WebhookRequest,
  WebhookSignatureGuard,
} from '../../src/webhooks/webhook-signature.guard';

/** A fake provider, 'test': HMAC-SHA256 (hex) of the raw body in `X-Test-Signature`. */
export const TEST_WEBHOOK_SECRET = 'test-provider-webhook-secret';

export function signTestWebhook(body: string, secret = TEST_WEBHOOK_SECRET): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export interface TestWebhookEvent {
  id: string;
  type: string;
  data?: unknown;
}

export interface HandlerCall {
  handler: string;
  payload: unknown;
  context: WebhookEventContext;
}

/** What the test handlers saw and how they behave, shared with the test file. */
export const testWebhookState = {
  calls: [] as HandlerCall[],
  /** `thing.flaky` throws while this is above 0 (Infinity: always), counting down. */
  failuresLeft: 0,
  /** When set, `thing.flaky` waits for it first. */
  gate: undefined as Promise<void> | undefined,
  /** Runs at the start of every `thing.flaky` call. */
  onFlaky: undefined as ((context: WebhookEventContext) => Promise<void>) | undefined,
  reset(): void {
    this.calls = [];
    this.failuresLeft = 0;
    this.gate = undefined;
    this.onFlaky = undefined;
  },
  callsOf(handler: string, eventId?: string): HandlerCall[] {
    return this.calls.filter(
      (c) => c.handler === handler && (eventId === undefined || c.context.eventId === eventId),
    );
  },
};

@Injectable()
class TestSignatureGuard extends WebhookSignatureGuard {
  protected verify(request: WebhookRequest): boolean {
    const signature = headerOf(request, 'x-test-signature');
    if (!signature) throw invalidSignature('missing X-Test-Signature');
    const expected = createHmac('sha256', TEST_WEBHOOK_SECRET).update(rawBodyOf(request)).digest();
    const given = Buffer.from(signature, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

@Controller('webhooks')
class TestWebhookController {
  constructor(private readonly inbox: WebhookInbox) {}

  /** One event or a batch (`[…]`), stored before the answer. */
  @Post('test')
  @WebhookEndpoint(TestSignatureGuard)
  async receive(
    @Body() body: unknown,
  ): Promise<{ received: true; stored: number; duplicates: number }> {
    const events = (Array.isArray(body) ? body : [body]) as TestWebhookEvent[];
    const result = await this.inbox.store(
      'test',
      events.map((e) => ({ eventId: e.id, type: e.type, payload: e })),
    );
    return { received: true, ...result };
  }
}

@Injectable()
class TestWebhookHandlers {
  @WebhookHandler('test', 'thing.created')
  @WebhookHandler('test', 'thing.updated')
  recordThing(payload: unknown, context: WebhookEventContext): void {
    testWebhookState.calls.push({ handler: 'thing', payload, context });
  }

  @WebhookHandler('test', 'thing.flaky')
  async flaky(payload: unknown, context: WebhookEventContext): Promise<void> {
    testWebhookState.calls.push({ handler: 'flaky', payload, context });
    await testWebhookState.onFlaky?.(context);
    if (testWebhookState.gate) await testWebhookState.gate;
    if (testWebhookState.failuresLeft > 0) {
      testWebhookState.failuresLeft -= 1;
      throw new Error('flaky handler exploded: password=hunter2');
    }
  }

  @WebhookHandler('test', '*')
  recordAny(payload: unknown, context: WebhookEventContext): void {
    testWebhookState.calls.push({ handler: 'any', payload, context });
  }
}

/** The fake provider's webhook route and handlers, as a provider module would have them. */
@Module({
  controllers: [TestWebhookController],
  providers: [TestSignatureGuard, TestWebhookHandlers],
})
export class TestProviderModule {}
