/**
 * Entry point of every worker thread (loaded by piscina). A piscina task is
 * a batch of jobs: the thread runs them, at most `concurrency` at once, and
 * returns one outcome per job, so one job's failure never touches another's.
 * Progress goes to shared memory as it happens (see progress.ts), so the
 * main thread can time jobs out and account for them if this thread dies.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BroadcastChannel, threadId, workerData } from 'node:worker_threads';
import { createLogger, type Logger } from '../log.js';
import { describeError } from './errors.js';
import { JobContext, Snooze } from './job-context.js';
import { Limiter } from './limiter.js';
import { resultOutcome } from './result.js';
import { AbortReason, BatchProgress } from './progress.js';
import type { BatchTask, JobEnvelope, Outcome, ProgressReport, ThreadData } from './protocol.js';
import { loadTasks, type TaskHandler, type TaskPolicy, type TaskTable } from './tasks.js';

const data = workerData as ThreadData;
const limiter = new Limiter(data.concurrency);
let tasks: Promise<TaskTable> | undefined;
let threadLog: Logger | undefined;

/** A job this thread is running, and where its progress goes. */
interface RunningJob {
  ctx: JobContext;
  progress: BatchProgress;
  index: number;
  /** An error its code raised outside its own call chain (a stray rejection or throw): the job fails with it. */
  stray?: string;
}

/** Running jobs, whose abort flags the main thread may raise. */
const running = new Set<RunningJob>();
/** How often a thread looks at the abort flags while it runs jobs. */
const ABORT_CHECK_MS = 25;
let abortChecker: NodeJS.Timeout | undefined;

/**
 * The job whose code is running: its handler's call chain, and the timers
 * and promises it started, even after it returned. An unhandled rejection
 * or an uncaught exception is blamed on that job alone, and the thread
 * lives on; process.exit() names it before the thread ends. (This turns
 * on promise hooks: a few hundred nanoseconds per job, measured.)
 */
const jobContext = new AsyncLocalStorage<RunningJob>();

const exitThread = process.exit.bind(process);
process.exit = ((code?: number) => {
  // Code that lost its context (a native callback) can still be named when one job runs alone.
  const job = jobContext.getStore() ?? (running.size === 1 ? running.values().next().value : undefined);
  job?.progress.markCulprit(job.index);
  return exitThread(code);
}) as typeof process.exit;

process.on('unhandledRejection', (reason) => stray(reason, 'an unhandled promise rejection'));
process.on('uncaughtException', (error) => stray(error, 'an uncaught exception'));

/**
 * An error that escaped a job's own call chain: a running job fails with it
 * (its signal is aborted at once); a job that already finished keeps its
 * outcome, and the error is logged with its id. Either way, no other job
 * on the thread is touched.
 */
function stray(error: unknown, what: string): void {
  const job = jobContext.getStore();
  if (!job) {
    log().error({ err: error }, `${what} outside any job (in the task module's own code); no job was blamed`);
    return;
  }
  const { jobId, task } = job.ctx;
  const stillRunning = running.has(job);
  log().error(
    { jobId, task, err: error },
    stillRunning
      ? `${what} in job ${jobId} (${task}): the job fails with it`
      : `${what} in job ${jobId} (${task}) after it had finished: its outcome stands; fix the code that left it behind`,
  );
  if (stillRunning && job.stray === undefined) {
    job.stray = `${what} in the job's code: ${describeError(error)}`;
    job.ctx.abort(error instanceof Error ? error : new Error(String(error)));
  }
}

function handlers(): Promise<TaskTable> {
  tasks ??= loadTasks(data.tasksPath);
  return tasks;
}

function log(): Logger {
  threadLog ??= createLogger(data, { threadId });
  return threadLog;
}

/** Where ctx.progress() reports go; opened at the first report (most tasks never make one). */
let progressChannel: BroadcastChannel | undefined;

function postProgress(report: ProgressReport): void {
  if (!progressChannel) {
    progressChannel = new BroadcastChannel(data.progressChannel);
    progressChannel.unref();
  }
  progressChannel.postMessage(report);
}

/** Runs a batch of jobs and returns their outcomes in the same order. */
export default async function runBatch(task: BatchTask): Promise<Outcome[]> {
  const progress = new BatchProgress(task.progress, task.jobs.length);
  progress.threadId = threadId;
  const table = await handlers();
  return Promise.all(task.jobs.map((job, index) => limiter.run(() => runJob(table, job, progress, index))));
}

/** Loads the task module and returns its task names (called once at start-up). */
export async function describeTasks(): Promise<[string, TaskPolicy][]> {
  return [...(await handlers())].map(([name, task]) => [name, task.policy]);
}

async function runJob(table: TaskTable, job: JobEnvelope, progress: BatchProgress, index: number): Promise<Outcome> {
  if (!progress.tryStart(index, Date.now())) return null; // taken back by the main thread: not run
  const entry: RunningJob = { ctx: new JobContext(job, log, postProgress), progress, index };
  running.add(entry);
  watchAbortFlags();
  const timer = job.timeoutMs > 0 ? setTimeout(() => entry.ctx.abort(timeoutError(job)), job.timeoutMs) : undefined;
  let outcome: Outcome = null;
  try {
    const handler = table.get(job.task)?.handler;
    if (!handler) throw new Error(`unknown task '${job.task}': the task module ${data.tasksPath} has no handler by that name`);
    const value = await jobContext.run(entry, call, handler, job, entry);
    if (value instanceof Snooze) outcome = { snoozeMs: value.ms };
    else if (value !== undefined) outcome = resultOutcome(value);
  } catch (error) {
    outcome = error instanceof Snooze ? { snoozeMs: error.ms } : { error: describeError(error) };
  } finally {
    clearTimeout(timer);
    running.delete(entry);
  }
  if (entry.stray !== undefined) outcome = { error: entry.stray };
  // A job that overran its timeout fails even if it then returned normally.
  const reason = entry.ctx.abortReason;
  if (reason instanceof JobTimeoutError) {
    outcome = { error: describeError(reason) + (outcome && 'error' in outcome ? `\nthe handler then threw: ${outcome.error}` : '') };
  }
  progress.finish(index, outcome === null || !('error' in outcome), Date.now());
  const last = entry.ctx.lastProgress;
  return last === undefined ? outcome : { ...(outcome ?? { succeeded: true }), progress: last };
}

function call(handler: TaskHandler, job: JobEnvelope, entry: RunningJob): unknown {
  return handler(JSON.parse(job.payload), entry.ctx);
}

class JobTimeoutError extends Error {
  override name = 'JobTimeoutError';
}

function timeoutError(job: JobEnvelope): JobTimeoutError {
  return new JobTimeoutError(`job timed out after ${job.timeoutMs / 1000}s`);
}

const ABORT_MESSAGES: Record<number, string> = {
  [AbortReason.Timeout]: 'job timed out',
  [AbortReason.LeaseLost]: 'this supervisor lost the job (its lease expired or the job was cancelled)',
  [AbortReason.Shutdown]: 'the supervisor is shutting down',
  [AbortReason.Cancelled]: 'the job was cancelled',
};

/** While jobs run, turns abort flags raised by the main thread into aborted signals. */
function watchAbortFlags(): void {
  abortChecker ??= setInterval(() => {
    for (const { ctx, progress, index } of running) {
      const reason = progress.abortRequested(index);
      if (reason !== AbortReason.None && !ctx.abortReason) ctx.abort(new Error(ABORT_MESSAGES[reason]));
    }
    if (running.size === 0) {
      clearInterval(abortChecker);
      abortChecker = undefined;
    }
  }, ABORT_CHECK_MS);
}
