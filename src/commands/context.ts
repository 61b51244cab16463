/** What every database command shares: resolved connection options, a logger on stderr, an open database. */
import { connectionOptions, resolveOptions, type ConnectionConfig } from '../config.js';
import { openDatabase, type Database } from '../db/connect.js';
import { isMigrated, migrateCommandFor } from '../db/migrate.js';
import { createLogger, type Logger } from '../log.js';
import { Queue } from '../queue/queue.js';

export interface CommandContext extends DatabaseContext {
  queue: Queue;
}

/** A failure the user can fix; printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A command that ran but could not do all it was asked (a job id that does not exist); exit code 1. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

/** The connection options, a logger on stderr and the open database a command works with. */
export interface DatabaseContext {
  config: ConnectionConfig;
  log: Logger;
  db: Database;
}

/** Opens the database named by the connection options (or the embedded one), runs `fn` and closes it. */
export async function withDatabase<T>(argv: Record<string, unknown>, fn: (ctx: DatabaseContext) => Promise<T>): Promise<T> {
  const config = resolveOptions(connectionOptions, argv);
  const log = createLogger({ ...config, fd: 2 });
  const db = await openDatabase(
    { databaseUrl: config.databaseUrl, embeddedDir: config.dataDir, maxConnections: 2, connectTimeoutMs: config.connectTimeout, pooler: config.pooler, announce: false },
    log,
  );
  try {
    return await fn({ config, log, db });
  } finally {
    await db.close();
  }
}

/** Like {@link withDatabase}, for a schema that must already be migrated, with a Queue on it. */
export function withQueue<T>(argv: Record<string, unknown>, fn: (ctx: CommandContext) => Promise<T>): Promise<T> {
  return withDatabase(argv, async ({ config, log, db }) => {
    if (!(await isMigrated(db.pool, config.schema))) {
      throw new UsageError(
        `schema '${config.schema}' at ${db.where} has no pg-supervisor tables yet: run '${migrateCommandFor(config.schema)}' (the supervisor also migrates when it starts)`,
      );
    }
    return fn({ config, log, db, queue: new Queue({ pool: db.pool, schema: config.schema, pooler: config.pooler }) });
  });
}

/**
 * After acting on job `ids`, of which `done` were acted on: says why each
 * other one was not (no such job, or its status) and fails with exit code 1.
 */
export async function failForSkipped(queue: Queue, ids: string[], done: string[], verb: string, rule: string): Promise<void> {
  const skipped = ids.filter((id) => !done.includes(id));
  if (skipped.length === 0) return;
  const reasons: string[] = [];
  for (const id of skipped) {
    const job = await queue.getJob(id);
    reasons.push(job ? `job ${id} is ${job.job_status} (${rule})` : `no job with id ${id}`);
  }
  throw new CommandFailed(`not ${verb}: ${reasons.join('; ')}`);
}
