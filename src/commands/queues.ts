/** `supervisor pause|resume <queue>` and `supervisor queue set|list`: a queue's flow control. */
import { queueSetOptions, resolveOptions, type RateLimit } from '../config.js';
import type { QueueState } from '../queue/queue.js';
import { UsageError, withQueue } from './context.js';
import { formatTable } from './table.js';

export async function pauseCommand(argv: Record<string, unknown>): Promise<void> {
  const name = queueName(argv);
  await withQueue(argv, async ({ queue }) => {
    await queue.pause(name);
    console.log(`paused queue '${name}': supervisors claim none of its jobs until 'supervisor resume ${name}'`);
  });
}

export async function resumeCommand(argv: Record<string, unknown>): Promise<void> {
  const name = queueName(argv);
  await withQueue(argv, async ({ queue }) => {
    await queue.resume(name);
    console.log(`resumed queue '${name}'`);
  });
}

export async function queueSetCommand(argv: Record<string, unknown>): Promise<void> {
  const name = queueName(argv);
  const { concurrency, rate } = resolveOptions(queueSetOptions, argv);
  if (concurrency === undefined && rate === undefined) {
    throw new UsageError(`say what to set: supervisor queue set ${name} --concurrency 2, or --rate 100/1m (0 removes a limit)`);
  }
  await withQueue(argv, async ({ queue }) => {
    const state = await queue.setQueue(name, { concurrency, rate });
    console.log(`queue '${name}': ${describeLimits(state)}`);
  });
}

export async function queueListCommand(argv: Record<string, unknown>): Promise<void> {
  await withQueue(argv, async ({ queue }) => {
    const queues = await queue.queues();
    console.log(queues.length === 0 ? 'no queues: none has settings or jobs pending or running' : formatQueues(queues));
  });
}

/** A table of queues with their settings and pending and running jobs (also in `supervisor status`). */
export function formatQueues(queues: QueueState[]): string {
  return formatTable(
    ['QUEUE', 'STATE', 'CONCURRENCY', 'RATE', 'PENDING', 'RUNNING'],
    queues.map((q) => [
      q.queue,
      q.paused ? 'paused' : 'active',
      q.concurrency === null ? '-' : String(q.concurrency),
      q.rate === null ? '-' : formatRate(q.rate),
      String(q.pending),
      String(q.running),
    ]),
  );
}

function describeLimits(state: QueueState): string {
  const concurrency = state.concurrency === null ? 'no concurrency limit' : `at most ${state.concurrency} running at once`;
  const rate = state.rate === null ? 'no rate limit' : `at most ${formatRate(state.rate)}`;
  return `${concurrency}, ${rate}${state.paused ? ' (paused)' : ''}`;
}

function formatRate(rate: RateLimit): string {
  const { periodMs } = rate;
  const units: [number, string][] = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1000, 's']];
  const [size, unit] = units.find(([ms]) => periodMs % ms === 0) ?? [1, 'ms'];
  return `${rate.limit}/${periodMs / size}${unit}`;
}

function queueName(argv: Record<string, unknown>): string {
  const name = String(argv.queue ?? '').trim();
  if (name === '') throw new UsageError('name the queue: supervisor pause reports');
  return name;
}
