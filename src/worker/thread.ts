/**
 * Entry point of every worker thread (loaded by piscina). A piscina task is
 * a batch of jobs: the thread runs them, at most `concurrency` at once, and
 * returns one outcome per job, so one job's failure never touches another's.
 */
import { threadId, workerData } from 'node:worker_threads';
import { createLogger, type Logger } from '../log.js';
import { describeError } from './errors.js';
import { Limiter } from './limiter.js';
import type { JobEnvelope, Outcome, ThreadData } from './protocol.js';
import { loadTasks, type TaskContext, type TaskTable } from './tasks.js';

const data = workerData as ThreadData;
const limiter = new Limiter(data.concurrency);
let tasks: Promise<TaskTable> | undefined;
let threadLog: Logger | undefined;

function handlers(): Promise<TaskTable> {
  tasks ??= loadTasks(data.tasksPath);
  return tasks;
}

function log(): Logger {
  threadLog ??= createLogger(data, { threadId });
  return threadLog;
}

/** Runs a batch of jobs and returns their outcomes in the same order. */
export default async function runBatch(jobs: JobEnvelope[]): Promise<Outcome[]> {
  const table = await handlers();
  return Promise.all(jobs.map((job) => limiter.run(() => runJob(table, job))));
}

/** Loads the task module and returns its task names (called once at start-up). */
export async function describeTasks(): Promise<string[]> {
  return [...(await handlers()).keys()];
}

async function runJob(table: TaskTable, job: JobEnvelope): Promise<Outcome> {
  const handler = table.get(job.task);
  if (!handler) {
    return { error: `unknown task '${job.task}': the task module ${data.tasksPath} has no handler by that name` };
  }
  try {
    await handler(JSON.parse(job.payload), context(job));
    return null;
  } catch (error) {
    return { error: describeError(error) };
  }
}

function context(job: JobEnvelope): TaskContext {
  let logger: Logger | undefined;
  return {
    jobId: job.id,
    task: job.task,
    queue: job.queue,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    signal: new AbortController().signal,
    // Built on first use: most handlers never log, and a child logger per job costs.
    get logger() {
      logger ??= log().child({ jobId: job.id, task: job.task, attempt: job.attempt });
      return logger;
    },
  };
}
