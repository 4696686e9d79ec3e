import { SetMetadata } from '@nestjs/common';
import type { Scope } from '../../config/app.config';

export const PUBLIC_ROUTE = 'switchboard:public';
export const REQUIRED_SCOPE = 'switchboard:scope';

/** The route needs no API key (webhooks, health). It is also not rate limited. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The route needs an API key holding `scope`. Scopes do not imply one another:
 * `admin` does not grant `payments`, nor the reverse.
 */
export const RequireScope = (scope: Scope): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRED_SCOPE, scope);
