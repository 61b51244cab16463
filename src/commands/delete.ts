/** `supervisor delete <ids..> | --status --queue --task --search`: deletes jobs that are not running. */
import { failForSkipped, withQueue } from './context.js';
import { jobTarget } from './target.js';

export async function deleteCommand(argv: Record<string, unknown>): Promise<void> {
  const target = jobTarget(argv, 'delete');
  await withQueue(argv, async ({ queue }) => {
    const deleted = await queue.deleteJobs(target);
    console.log(`deleted ${deleted.length} job${deleted.length === 1 ? '' : 's'}`);
    if (Array.isArray(target)) await failForSkipped(queue, target, deleted, 'deleted', 'a running job is cancelled first');
  });
}
