/** `supervisor prune`: deletes finished jobs past their retention period once, as the leader does every minute. */
import { resolveOptions, retentionOptions } from '../config.js';
import { maintenanceStatements } from '../db/sql/maintenance.js';
import { prune } from '../supervisor/retention.js';
import { withQueue } from './context.js';

export async function pruneCommand(argv: Record<string, unknown>): Promise<void> {
  const keep = resolveOptions(retentionOptions, argv);
  await withQueue(argv, async ({ db, config }) => {
    const deleted = await prune({ pool: db.pool, sql: maintenanceStatements(config.schema), keep });
    console.log(`deleted ${deleted.success} succeeded, ${deleted.failed} failed and ${deleted.cancelled} cancelled job(s)`);
  });
}
