/**
 * runTask: calls one handler on the caller's own thread with a context like
 * the one a supervisor gives it, for unit tests that stub what the handler
 * uses. No database, no thread.
 */
import { silentLogger, type Logger } from '../log.js';
import { JobContext, Snooze } from '../worker/job-context.js';
import { resultOutcome } from '../worker/result.js';
import type { TaskDefinition, TaskHandler } from '../worker/tasks.js';

export interface RunTaskOptions {
  /** The context's fields (defaults: job id '1', task 'test', queue 'default', attempt 1 of 3). */
  jobId?: string;
  task?: string;
  queue?: string;
  attempt?: number;
  maxAttempts?: number;
  /** Abort `ctx.signal` after this many ms, as a job timeout does. */
  timeout?: number;
  /** The logger behind `ctx.logger` (default: silent). */
  logger?: Logger;
}

/** What one run of a handler gave. A handler that throws makes {@link runTask} reject with its error. */
export interface TaskRun<Result> {
  /** What it returned, as the supervisor would store it (through JSON); undefined when it returned nothing or snoozed. */
  result: Result | undefined;
  /** The last value it reported with `ctx.progress()`, if any. */
  progress: unknown;
  /** When it snoozed: after how many ms it asked to run again. */
  snoozeMs?: number;
}

/**
 * Runs `handler` (a handler, or a task definition) once with `payload`,
 * which goes through JSON first as a stored payload does. A return value
 * the supervisor could not store (not JSON, over 64 KB) rejects, as the job
 * would fail.
 *
 * ```ts
 * const { result } = await runTask(tasks.resize, { image: 'a.png' });
 * ```
 */
export async function runTask<Payload, Result>(
  handler: TaskHandler<Payload, Result> | TaskDefinition<Payload, Result>,
  payload: Payload,
  options: RunTaskOptions = {},
): Promise<TaskRun<Awaited<Result>>> {
  const run = typeof handler === 'function' ? handler : handler.handler;
  const job = {
    id: options.jobId ?? '1',
    task: options.task ?? 'test',
    queue: options.queue ?? 'default',
    payload: JSON.stringify(payload ?? {}),
    attempt: options.attempt ?? 1,
    maxAttempts: options.maxAttempts ?? 3,
    timeoutMs: options.timeout ?? 0,
  };
  const ctx = new JobContext(job, () => options.logger ?? silentLogger(), () => undefined);
  const timer = job.timeoutMs > 0 ? setTimeout(() => ctx.abort(new Error(`job timed out after ${job.timeoutMs / 1000}s`)), job.timeoutMs) : undefined;
  let value: unknown;
  try {
    value = await run(JSON.parse(job.payload) as Payload, ctx);
  } catch (error) {
    if (!(error instanceof Snooze)) throw error;
    value = error;
  } finally {
    clearTimeout(timer);
  }
  const progress: unknown = ctx.lastProgress === undefined ? undefined : JSON.parse(ctx.lastProgress);
  if (value instanceof Snooze) return { result: undefined, progress, snoozeMs: value.ms };
  const outcome = resultOutcome(value);
  if (outcome && 'error' in outcome) throw new Error(outcome.error);
  return { result: outcome && 'result' in outcome ? (JSON.parse(outcome.result) as Awaited<Result>) : undefined, progress };
}
