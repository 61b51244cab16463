/** `supervisor retry [ids..] | --failed [--task --queue --search]`: puts failed jobs back to pending with fresh attempts. */
import { resolveOptions, retryOptions } from '../config.js';
import { UsageError, failForSkipped, withQueue } from './context.js';
import { parseIds } from './ids.js';

export async function retryCommand(argv: Record<string, unknown>): Promise<void> {
  const ids = parseIds(argv.ids);
  const { failed, ...filter } = resolveOptions(retryOptions, argv);
  if (ids.length === 0 && !failed) {
    throw new UsageError('say which jobs to retry: give job ids, or --failed for every failed job');
  }
  if (ids.length > 0 && failed) throw new UsageError('give job ids or --failed, not both');
  await withQueue(argv, async ({ queue }) => {
    const retried = await queue.retry(ids.length > 0 ? { ids } : withoutUndefined(filter));
    console.log(`re-queued ${retried.length} job${retried.length === 1 ? '' : 's'}`);
    await failForSkipped(queue, ids, retried, 're-queued', 'only failed or cancelled jobs are retried');
  });
}

function withoutUndefined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
