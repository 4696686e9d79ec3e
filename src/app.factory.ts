import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule, AppModuleOptions } from './app.module';
import { createFastifyAdapter, installHttpHooks } from './common/http/http-setup';
import { ROOT_LOGGER } from './common/logging/logging.module';
import { installRequestLogging } from './common/logging/request-logging';
import type { AppConfig } from './config/app.config';

/** Builds the configured application (not yet listening); shared by main.ts and the tests. */
export async function createApp(
  config: AppConfig,
  opts: AppModuleOptions = {},
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, opts),
    createFastifyAdapter(config),
    {
      rawBody: true,
      bufferLogs: true,
      abortOnError: false,
    },
  );
  app.useLogger(app.get(Logger));
  app.flushLogs();
  // First: the hooks after it (and Nest's handlers) run in the request's log context.
  installRequestLogging(app.getHttpAdapter().getInstance(), app.get(ROOT_LOGGER));
  installHttpHooks(app, config);

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Switchboard')
      .setDescription('Payments (Stripe), SMS (Twilio) and email (SendGrid) behind one API.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs/openapi.json',
    raw: ['json'],
  });
  await app.init();
  return app;
}
