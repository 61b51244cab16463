/** `supervisor enqueue <task> [payload]`: adds jobs from the command line. */
import { enqueueOptions, resolveOptions } from '../config.js';
import type { JobSpec } from '../queue/queue.js';
import { UsageError, withQueue } from './context.js';

export async function enqueueCommand(argv: Record<string, unknown>): Promise<void> {
  const task = String(argv.task ?? '').trim();
  if (task === '') throw new UsageError('enqueue needs a task name: supervisor enqueue <task> [payload]');
  const payload = parsePayload(argv.payload);
  const options = resolveOptions(enqueueOptions, argv);
  if (options.jobKey !== undefined && options.count > 1) {
    throw new UsageError('--job-key names one job: it cannot be combined with --count greater than 1');
  }
  const { count, ...jobOptions } = options;
  const spec: JobSpec = { task, payload, ...withoutUndefined(jobOptions) };
  await withQueue(argv, async ({ queue }) => {
    const added = await queue.addMany(Array.from({ length: count }, () => spec));
    const created = added.filter((job) => job.created);
    if (created.length === 0) {
      console.log(`not added: job ${added[0]!.id} already has job key '${options.jobKey}'`);
    } else {
      const ids = created.length === 1 ? `id ${created[0]!.id}` : `ids ${created[0]!.id}…${created.at(-1)!.id}`;
      console.log(`enqueued ${created.length} ${task} job${created.length === 1 ? '' : 's'} (${ids}) in queue '${options.queue}'`);
    }
  });
}

function parsePayload(raw: unknown): unknown {
  if (raw === undefined) return {};
  try {
    return JSON.parse(String(raw));
  } catch (error) {
    throw new UsageError(
      `the payload is not valid JSON (${(error as Error).message}); quote it for the shell, e.g. '{"name":"world"}'`,
    );
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
