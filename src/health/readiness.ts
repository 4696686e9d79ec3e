import { Injectable } from '@nestjs/common';

/** A check that `/health/ready` runs besides the database and Redis (the job queue registers one). */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/** Modules register their readiness checks here at init; health does not import them. */
@Injectable()
export class ReadinessRegistry {
  private readonly checks: ReadinessCheck[] = [];

  register(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  all(): readonly ReadinessCheck[] {
    return this.checks;
  }
}
