/** `supervisor cancel <ids..> | --status --queue --task --search`: cancels pending or running jobs. */
import { failForSkipped, withQueue } from './context.js';
import { jobTarget } from './target.js';

export async function cancelCommand(argv: Record<string, unknown>): Promise<void> {
  const target = jobTarget(argv, 'cancel');
  await withQueue(argv, async ({ queue }) => {
    const cancelled = await queue.cancel(target);
    console.log(`cancelled ${cancelled.length} job${cancelled.length === 1 ? '' : 's'}`);
    if (Array.isArray(target)) await failForSkipped(queue, target, cancelled, 'cancelled', 'it is not pending or running');
  });
}
