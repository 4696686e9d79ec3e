import type { Fault, FaultKind, FaultOptions } from './types';

export const FAULT_KINDS: readonly FaultKind[] = [
  'rate_limit',
  'server_error',
  'unavailable',
  'latency',
  'hang',
  'lost_response',
  'reset',
];

/** Added by a queued `latency` fault that names no duration. */
export const DEFAULT_LATENCY_MS = 500;

export class FaultOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultOptionsError';
  }
}

export interface FaultDecision {
  fault?: Fault;
  /** Total delay before the request is answered (the option's `latencyMs` plus a `latency` fault). */
  delayMs: number;
}

/**
 * Picks the fault for each request: the exact queue first, then the rates.
 * One draw of `random` per request decides between the rates, so each rate is
 * exactly the probability of its fault (they are stacked in the documented order).
 */
export class FaultPlan {
  private options: FaultOptions = {};
  private queue: Fault[] = [];

  constructor(private readonly random: () => number) {}

  set(options: FaultOptions): void {
    const { queue, ...rates } = options;
    this.options = rates;
    this.queue = queue ? queue.map((f) => ({ ...f })) : [];
  }

  enqueue(faults: Fault[]): void {
    this.queue.push(...faults.map((f) => ({ ...f })));
  }

  current(): FaultOptions {
    return { ...this.options, queue: this.queue.map((f) => ({ ...f })) };
  }

  decide(path: string): FaultDecision {
    const { pathPrefix, latencyMs = 0 } = this.options;
    if (pathPrefix !== undefined && !path.startsWith(pathPrefix)) return { delayMs: 0 };
    const fault = this.queue.shift() ?? this.drawRate();
    const faultDelay = fault?.kind === 'latency' ? (fault.ms ?? DEFAULT_LATENCY_MS) : 0;
    return { fault, delayMs: latencyMs + faultDelay };
  }

  private drawRate(): Fault | undefined {
    const rates: [FaultKind, number | undefined][] = [
      ['rate_limit', this.options.rateLimitRate],
      ['server_error', this.options.serverErrorRate],
      ['unavailable', this.options.unavailableRate],
      ['reset', this.options.resetRate],
      ['hang', this.options.hangRate],
    ];
    if (!rates.some(([, rate]) => (rate ?? 0) > 0)) return undefined;
    const draw = this.random();
    let threshold = 0;
    for (const [kind, rate] of rates) {
      threshold += rate ?? 0;
      if (draw < threshold) return { kind };
    }
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFaultKind(value: unknown): value is FaultKind {
  return typeof value === 'string' && (FAULT_KINDS as readonly string[]).includes(value);
}

/** Validates a fault list that arrived as JSON (control API, CLI). */
export function parseFaults(input: unknown): Fault[] {
  if (!Array.isArray(input)) throw new FaultOptionsError('Expected a JSON array of faults.');
  return input.map((item: unknown, i) => {
    if (!isRecord(item) || !isFaultKind(item.kind)) {
      throw new FaultOptionsError(`faults[${i}].kind must be one of ${FAULT_KINDS.join(', ')}.`);
    }
    const fault: Fault = { kind: item.kind };
    if (item.ms !== undefined) {
      if (typeof item.ms !== 'number' || !Number.isFinite(item.ms) || item.ms < 0) {
        throw new FaultOptionsError(`faults[${i}].ms must be a non-negative number.`);
      }
      fault.ms = item.ms;
    }
    return fault;
  });
}

const RATE_KEYS = [
  'rateLimitRate',
  'serverErrorRate',
  'unavailableRate',
  'resetRate',
  'hangRate',
] as const;

/** Validates fault options that arrived as JSON (control API, CLI). */
export function parseFaultOptions(input: unknown): FaultOptions {
  if (!isRecord(input)) throw new FaultOptionsError('Expected a JSON object of fault options.');
  const known = new Set<string>([...RATE_KEYS, 'latencyMs', 'queue', 'pathPrefix']);
  const unknown = Object.keys(input).filter((k) => !known.has(k));
  if (unknown.length > 0)
    throw new FaultOptionsError(`Unknown fault option(s): ${unknown.join(', ')}.`);
  const options: FaultOptions = {};
  for (const key of RATE_KEYS) {
    const rate = input[key];
    if (rate === undefined) continue;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))
      throw new FaultOptionsError(`${key} must be a number from 0 to 1.`);
    options[key] = rate;
  }
  if (input.latencyMs !== undefined) {
    if (
      typeof input.latencyMs !== 'number' ||
      !Number.isFinite(input.latencyMs) ||
      input.latencyMs < 0
    ) {
      throw new FaultOptionsError('latencyMs must be a non-negative number.');
    }
    options.latencyMs = input.latencyMs;
  }
  if (input.pathPrefix !== undefined) {
    if (typeof input.pathPrefix !== 'string')
      throw new FaultOptionsError('pathPrefix must be a string.');
    options.pathPrefix = input.pathPrefix;
  }
  if (input.queue !== undefined) options.queue = parseFaults(input.queue);
  return options;
}
