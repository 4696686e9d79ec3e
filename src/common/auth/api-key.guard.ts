import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { AppConfig, Scope } from '../../config/app.config';
import { InjectConfig } from '../../config/config.module';
import { AppError } from '../errors/app-error';
import { ApiKeyRegistry } from './api-key';
import { PUBLIC_ROUTE, REQUIRED_SCOPE } from './auth.decorators';

/** Global guard: `Authorization: Bearer <secret>` on every route not marked {@link Public}. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly registry: ApiKeyRegistry;

  constructor(
    private readonly reflector: Reflector,
    @InjectConfig() config: AppConfig,
  ) {
    this.registry = new ApiKeyRegistry(config.auth.apiKeys);
  }

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets)) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const principal = match ? this.registry.authenticate(match[1]) : undefined;
    if (!principal) throw new AppError('unauthorized', 'a valid API key is required');
    // The request log line names the key from here (src/common/logging/request-logging.ts).
    request.principal = principal;

    const scope = this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE, targets);
    if (scope && !principal.scopes.includes(scope)) {
      throw new AppError('forbidden', `this API key lacks the ${scope} scope`);
    }
    return true;
  }
}
