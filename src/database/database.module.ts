import { Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/app.config';
import { DatabaseHandle, migrateToLatest, openDatabase } from './database.factory';

export const DATABASE = Symbol('DATABASE');
export const DATABASE_HANDLE = Symbol('DATABASE_HANDLE');

/** Injects the Kysely instance ({@link Db}). */
export const InjectDb = (): ParameterDecorator => Inject(DATABASE);

/** Opens the database from `DATABASE_URL`, applies migrations at start-up and closes it on shutdown. */
@Global()
@Module({
  providers: [
    {
      provide: DATABASE_HANDLE,
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig): Promise<DatabaseHandle> => {
        const handle = openDatabase(config.database.url);
        const applied = await migrateToLatest(handle.db);
        if (applied.length > 0)
          new Logger('Database').log(`applied migrations: ${applied.join(', ')}`);
        return handle;
      },
    },
    { provide: DATABASE, inject: [DATABASE_HANDLE], useFactory: (h: DatabaseHandle) => h.db },
  ],
  exports: [DATABASE, DATABASE_HANDLE],
})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@Inject(DATABASE_HANDLE) private readonly handle: DatabaseHandle) {}

  async onApplicationShutdown(): Promise<void> {
    await this.handle.db.destroy();
  }
}
