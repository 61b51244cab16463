/** `supervisor cancel <ids..>`: cancels pending or running jobs. */
import { UsageError, failForSkipped, withQueue } from './context.js';
import { parseIds } from './ids.js';

export async function cancelCommand(argv: Record<string, unknown>): Promise<void> {
  const ids = parseIds(argv.ids);
  if (ids.length === 0) throw new UsageError('give the ids of the jobs to cancel: supervisor cancel 12 13');
  await withQueue(argv, async ({ queue }) => {
    const cancelled = await queue.cancel(ids);
    console.log(`cancelled ${cancelled.length} job${cancelled.length === 1 ? '' : 's'}`);
    await failForSkipped(queue, ids, cancelled, 'cancelled', 'it is not pending or running');
  });
}
