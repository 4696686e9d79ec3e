import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { PUBLIC_ROUTE } from '../auth/auth.decorators';

const PASS = Promise.resolve(true);

/** Inbound rate limit per API key; public routes (webhooks, health) are not limited. */
@Injectable()
export class ApiKeyThrottlerGuard extends ThrottlerGuard {
  /** A public route passes at once, without the throttler's chain of promises (webhooks' hot path). */
  override canActivate(context: ExecutionContext): Promise<boolean> {
    return this.isPublic(context) ? PASS : super.canActivate(context);
  }

  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    return Promise.resolve(this.isPublic(context));
  }

  private isPublic(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [
        context.getHandler(),
        context.getClass(),
      ]) === true
    );
  }

  protected override getTracker(req: Record<string, unknown>): Promise<string> {
    const request = req as unknown as FastifyRequest;
    return Promise.resolve(
      request.principal ? `key:${request.principal.name}` : `ip:${request.ip}`,
    );
  }
}
