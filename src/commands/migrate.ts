/** `supervisor migrate`: applies pending migrations and nothing else. */
import { connectionOptions, resolveOptions } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import { createLogger } from '../log.js';

export async function migrateCommand(argv: Record<string, unknown>): Promise<void> {
  const config = resolveOptions(connectionOptions, argv);
  const log = createLogger({ ...config, fd: 2 });
  const db = await openDatabase({ databaseUrl: config.databaseUrl, maxConnections: 1 }, log);
  try {
    const applied = await migrate(db.pool, config.schema, log);
    console.log(
      applied.length === 0
        ? `schema '${config.schema}' is up to date`
        : `applied migration(s) ${applied.join(', ')} to schema '${config.schema}'`,
    );
  } finally {
    await db.close();
  }
}
