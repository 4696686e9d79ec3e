import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import {
  ANY_WEBHOOK_TYPE,
  webhookHandlerBindings,
  WebhookHandlerFn,
} from './webhook-handler.decorator';

export interface RegisteredWebhookHandler {
  /** `ClassName.method`, for logs. */
  name: string;
  handle: WebhookHandlerFn;
}

const keyOf = (provider: string, type: string): string => `${provider}\u0000${type}`;

/**
 * Finds every {@link WebhookHandler} method at start-up through Nest discovery,
 * so provider modules register handlers without the inbox importing them.
 */
@Injectable()
export class WebhookHandlerRegistry implements OnModuleInit {
  private readonly logger = new Logger(WebhookHandlerRegistry.name);
  private readonly handlers = new Map<string, RegisteredWebhookHandler[]>();
  private readonly knownProviders = new Set<string>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    const seen = new Set<unknown>();
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      // Factories and values are not our classes: scanning them could touch arbitrary objects.
      if (wrapper.isNotMetatype) continue;
      const instance: unknown = wrapper.instance;
      if (instance && typeof instance === 'object') {
        if (seen.has(instance)) continue;
        seen.add(instance);
      }
      this.scan(wrapper);
    }
    const count = [...this.handlers.values()].reduce((n, list) => n + list.length, 0);
    if (count > 0)
      this.logger.log(
        `${count} webhook handlers for ${[...this.knownProviders].sort().join(', ')}`,
      );
  }

  /** The handlers of an exact type first, then the provider's wildcard handlers. */
  handlersFor(provider: string, type: string): readonly RegisteredWebhookHandler[] {
    const exact = type === ANY_WEBHOOK_TYPE ? [] : (this.handlers.get(keyOf(provider, type)) ?? []);
    return [...exact, ...(this.handlers.get(keyOf(provider, ANY_WEBHOOK_TYPE)) ?? [])];
  }

  /** Providers that registered at least one handler. */
  providers(): readonly string[] {
    return [...this.knownProviders];
  }

  private scan(wrapper: InstanceWrapper): void {
    const prototype = (wrapper.metatype as { prototype?: object } | null)?.prototype;
    if (!prototype) return;
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const bindings = webhookHandlerBindings((prototype as Record<string, unknown>)[methodName]);
      if (bindings.length === 0) continue;
      const name = `${(wrapper.metatype as { name: string }).name}.${methodName}`;
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        // A request-scoped instance does not exist when a background job runs.
        throw new Error(`${name}: webhook handlers must be on singleton providers`);
      }
      const instance = wrapper.instance as Record<
        string,
        (payload: unknown, ctx: unknown) => unknown
      >;
      const handle: WebhookHandlerFn = (payload, ctx) => instance[methodName](payload, ctx);
      for (const { provider, type } of bindings) {
        const key = keyOf(provider, type);
        this.handlers.set(key, [...(this.handlers.get(key) ?? []), { name, handle }]);
        this.knownProviders.add(provider);
      }
    }
  }
}
