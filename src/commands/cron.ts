/** `supervisor cron add|list|run|remove`: recurring jobs. */
import { cronAddOptions, enqueueOptions, resolveOptions } from '../config.js';
import { CommandFailed, UsageError, withQueue } from './context.js';
import { parsePayload } from './enqueue.js';
import { formatTable, formatTime } from './table.js';

export const cronOptions = { queue: enqueueOptions.queue, priority: enqueueOptions.priority, maxAttempts: enqueueOptions.maxAttempts, ...cronAddOptions };

export async function cronAddCommand(argv: Record<string, unknown>): Promise<void> {
  const name = required(argv.name, 'name');
  const expression = required(argv.expression, 'expression');
  const task = required(argv.task, 'task');
  const payload = parsePayload(argv.payload);
  const { queue: queueName, priority, maxAttempts, timezone, backfill } = resolveOptions(cronOptions, argv);
  await withQueue(argv, async ({ queue }) => {
    await queue.schedule(name, expression, task, payload, { queue: queueName, priority, maxAttempts, timezone, backfill });
    const saved = (await queue.schedules()).find((s) => s.name === name);
    const next = saved?.nextRun ? `; next run ${saved.nextRun.toISOString()}` : '; it never fires again';
    console.log(`saved schedule '${name}': ${task} at '${expression}'${timezone ? ` (${timezone})` : ' (UTC)'}${next}`);
    const warning = await queue.noRunnerWarning(task);
    if (warning) process.stderr.write(`supervisor: warning: ${warning}\n`);
  });
}

export async function cronListCommand(argv: Record<string, unknown>): Promise<void> {
  await withQueue(argv, async ({ queue }) => {
    const schedules = await queue.schedules();
    if (schedules.length === 0) {
      console.log("no schedules: add one with supervisor cron add <name> '<expression>' <task>");
      return;
    }
    const rows = schedules.map((s) => [
      s.name,
      s.expression,
      s.timezone ?? 'UTC',
      s.task,
      s.queue ?? '(task)',
      formatTime(s.lastTick),
      s.nextRun ? formatTime(s.nextRun) : 'never',
    ]);
    console.log(formatTable(['NAME', 'EXPRESSION', 'TIMEZONE', 'TASK', 'QUEUE', 'LAST TICK', 'NEXT RUN'], rows));
  });
}

export async function cronRunCommand(argv: Record<string, unknown>): Promise<void> {
  const name = required(argv.name, 'name');
  await withQueue(argv, async ({ queue }) => {
    if (!(await queue.schedules()).some((s) => s.name === name)) throw new CommandFailed(`no schedule named '${name}' (supervisor cron list shows them)`);
    const job = await queue.runSchedule(name);
    console.log(`added job ${job.id} of schedule '${name}' now; its next tick comes as planned`);
  });
}

export async function cronRemoveCommand(argv: Record<string, unknown>): Promise<void> {
  const name = required(argv.name, 'name');
  await withQueue(argv, async ({ queue }) => {
    if (!(await queue.unschedule(name))) throw new CommandFailed(`no schedule named '${name}' (supervisor cron list shows them)`);
    console.log(`removed schedule '${name}'; jobs it already added stay`);
  });
}

function required(raw: unknown, what: string): string {
  const text = String(raw ?? '').trim();
  if (text === '') throw new UsageError(`give the schedule's ${what}: supervisor cron add <name> '<expression>' <task> [payload]`);
  return text;
}
