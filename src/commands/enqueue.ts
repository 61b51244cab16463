/** `supervisor enqueue <task> [payload]`: adds jobs from the command line. */
import { readFileSync } from 'node:fs';
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
    const warning = await queue.noRunnerWarning(task);
    if (warning) process.stderr.write(`supervisor: warning: ${warning}\n`);
    const created = added.filter((job) => job.created);
    if (created.length === 0) {
      console.log(`not added: job ${added[0]!.id} already has job key '${options.jobKey}'`);
    } else {
      const ids = created.length === 1 ? `id ${created[0]!.id}` : `ids ${created[0]!.id}…${created.at(-1)!.id}`;
      const where = options.queue === undefined ? '' : ` in queue '${options.queue}'`;
      console.log(`enqueued ${created.length} ${task} job${created.length === 1 ? '' : 's'} (${ids})${where}`);
    }
  });
}

/** The payload argument: JSON text, `-` to read it from standard input, or `@file` to read it from a file. */
export function parsePayload(raw: unknown): unknown {
  if (raw === undefined) return {};
  // yargs hands a bare '-' over as ''.
  const text = raw === '' && process.argv.slice(2).includes('-') ? '-' : String(raw);
  const source = text === '-' ? 'standard input' : text.startsWith('@') ? text.slice(1) : undefined;
  const json = source === undefined ? text : readPayload(text === '-' ? 0 : source, source);
  try {
    return JSON.parse(json);
  } catch (error) {
    const reason = (error as Error).message;
    throw new UsageError(
      source === undefined
        ? `the payload is not valid JSON (${reason}); quote it for the shell, e.g. '{"name":"world"}', or pass - to read it from standard input, or @file`
        : `the payload in ${source} is not valid JSON (${reason})`,
    );
  }
}

function readPayload(from: number | string, name: string): string {
  try {
    return readFileSync(from, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the payload from ${name}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
