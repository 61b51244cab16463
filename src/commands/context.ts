/** What every database command shares: resolved connection options, a logger on stderr, an open database. */
import { connectionOptions, resolveOptions, type ConnectionConfig } from '../config.js';
import { openDatabase, type Database } from '../db/connect.js';
import { isMigrated } from '../db/migrate.js';
import { createLogger, type Logger } from '../log.js';
import { Queue } from '../queue/queue.js';

export interface CommandContext {
  config: ConnectionConfig;
  log: Logger;
  db: Database;
  queue: Queue;
}

/** A failure the user can fix; printed without a stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Opens the database named by the connection options (or the embedded one),
 * checks the schema is migrated, runs `fn` and closes everything.
 */
export async function withQueue<T>(argv: Record<string, unknown>, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  const config = resolveOptions(connectionOptions, argv);
  const log = createLogger({ ...config, fd: 2 });
  const db = await openDatabase({ databaseUrl: config.databaseUrl, maxConnections: 2 }, log);
  const queue = new Queue({ pool: db.pool, schema: config.schema });
  try {
    if (!(await isMigrated(db.pool, config.schema))) {
      throw new UsageError(
        `schema '${config.schema}' at ${db.where} has no pg-supervisor tables yet: run 'supervisor migrate' (the supervisor also migrates when it starts)`,
      );
    }
    return await fn({ config, log, db, queue });
  } finally {
    await db.close();
  }
}
