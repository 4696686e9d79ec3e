import * as http from 'node:http';
import * as https from 'node:https';

import type { DeliveryRecord, OutgoingWebhook, WebhookDeliveryOptions } from './types';

export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [100, 500, 2000];
export const DEFAULT_DELIVERY_TIMEOUT_MS = 5000;

interface Delivery {
  readonly record: DeliveryRecord;
  readonly webhook: OutgoingWebhook;
  timer?: NodeJS.Timeout;
  request?: http.ClientRequest;
}

type AttemptResult = { status: number } | { status: 'network_error'; error: string };

export interface WebhookSenderOptions extends WebhookDeliveryOptions {
  now: () => Date;
  /** Called whenever a delivery settles for good (delivered or given up). */
  onSettled: () => void;
}

/**
 * Delivers webhooks the way the providers do: POST, success on 2xx only,
 * redelivery on any other status or a network error on a fixed (shortened)
 * schedule. Every attempt uses a fresh connection (`agent: false`), so nothing
 * lingers after `cancelAll()`.
 */
export class WebhookSender {
  private readonly schedule: readonly number[];
  private readonly timeoutMs: number;
  private readonly active = new Set<Delivery>();
  private records: DeliveryRecord[] = [];

  constructor(private readonly options: WebhookSenderOptions) {
    this.schedule = options.retryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  }

  send(webhook: OutgoingWebhook): void {
    const record: DeliveryRecord = {
      url: webhook.url,
      body: webhook.body,
      attempts: [],
      delivered: false,
    };
    this.records.push(record);
    const delivery: Delivery = { record, webhook };
    this.active.add(delivery);
    this.scheduleAttempt(delivery, 0);
  }

  /** Deliveries in flight or waiting for their next attempt. */
  pending(): number {
    return this.active.size;
  }

  list(): DeliveryRecord[] {
    return this.records.map((r) => ({ ...r, attempts: r.attempts.map((a) => ({ ...a })) }));
  }

  /** Abort what is in flight and drop what is scheduled; the records stay. */
  cancelAll(): void {
    for (const delivery of this.active) {
      if (delivery.timer) clearTimeout(delivery.timer);
      delivery.request?.destroy();
    }
    this.active.clear();
  }

  clear(): void {
    this.cancelAll();
    this.records = [];
  }

  private scheduleAttempt(delivery: Delivery, delayMs: number): void {
    delivery.timer = setTimeout(() => {
      delivery.timer = undefined;
      this.attempt(delivery);
    }, delayMs);
  }

  private attempt(delivery: Delivery): void {
    if (!this.active.has(delivery)) return;
    const at = this.options.now().toISOString();
    this.post(delivery, (result) => {
      delivery.request = undefined;
      if (!this.active.has(delivery)) return;
      delivery.record.attempts.push({ at, ...result });
      if (typeof result.status === 'number' && result.status >= 200 && result.status < 300) {
        delivery.record.delivered = true;
        this.settle(delivery);
        return;
      }
      const retry = delivery.record.attempts.length - 1;
      if (retry < this.schedule.length) this.scheduleAttempt(delivery, this.schedule[retry]);
      else this.settle(delivery);
    });
  }

  private settle(delivery: Delivery): void {
    this.active.delete(delivery);
    this.options.onSettled();
  }

  private post(delivery: Delivery, done: (result: AttemptResult) => void): void {
    const { webhook } = delivery;
    let settled = false;
    const finish = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      done(result);
    };
    let url: URL;
    let headers: Record<string, string>;
    try {
      url = new URL(webhook.url);
      headers = { ...webhook.headers, ...(webhook.resign ? webhook.resign(webhook.body) : {}) };
    } catch (err) {
      finish({ status: 'network_error', error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const body = Buffer.from(webhook.body, 'utf8');
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      agent: false,
      headers: { ...headers, 'Content-Length': String(body.length) },
    });
    delivery.request = request;
    request.setTimeout(this.timeoutMs, () => {
      request.destroy(new Error(`timed out after ${this.timeoutMs} ms`));
    });
    request.on('error', (err) => finish({ status: 'network_error', error: err.message }));
    request.on('response', (res) => {
      res.on('error', (err) => finish({ status: 'network_error', error: err.message }));
      res.on('end', () => finish({ status: res.statusCode ?? 0 }));
      // The receiver's answer body is irrelevant; drain it so the socket can close.
      res.resume();
    });
    request.end(body);
  }
}
