/** `supervisor migrate`: applies pending migrations and nothing else. */
import { migrate } from '../db/migrate.js';
import { withDatabase } from './context.js';

export async function migrateCommand(argv: Record<string, unknown>): Promise<void> {
  await withDatabase(argv, async ({ config, log, db }) => {
    const applied = await migrate(db.pool, config.schema, log);
    console.log(
      applied.length === 0
        ? `schema '${config.schema}' is up to date`
        : `applied migration(s) ${applied.join(', ')} to schema '${config.schema}'`,
    );
  });
}
