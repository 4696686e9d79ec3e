import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig, Scope } from '../../config/app.config';

/** The authenticated caller, attached to the request; never carries the secret. */
export interface Principal {
  name: string;
  scopes: readonly Scope[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Finds the key whose secret matches, comparing SHA-256 digests in constant
 * time against every key (no early exit), so neither the length nor the
 * position of a match leaks through timing.
 */
export class ApiKeyRegistry {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.entries = keys.map((k) => ({
      digest: digest(k.secret),
      principal: { name: k.name, scopes: k.scopes },
    }));
  }

  authenticate(secret: string): Principal | undefined {
    const presented = digest(secret);
    let found: Principal | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(presented, entry.digest)) found = entry.principal;
    }
    return found;
  }
}
