/** What crosses between the supervisor's main thread and its worker threads. */
import type { LogFormat, LogLevel } from '../config.js';

/** One claimed job as a thread receives it. The payload stays JSON text until the thread parses it. */
export interface JobEnvelope {
  id: string;
  task: string;
  queue: string;
  payload: string;
  attempt: number;
  maxAttempts: number;
  /** Abort the job after this many milliseconds; 0 for no limit. */
  timeoutMs: number;
}

/** One piscina task: jobs and the shared memory where the thread reports its progress (see progress.ts). */
export interface BatchTask {
  jobs: JobEnvelope[];
  progress: SharedArrayBuffer;
}

/**
 * A job's result from the thread: `null` when it succeeded, the error text
 * kept in `last_error` when it failed, or the delay it asked to run again
 * after (ctx.snooze), or what it returned as JSON text (when not
 * undefined); `progress` is its last ctx.progress() report, if it made one.
 */
export type Outcome = null | (({ error: string } | { snoozeMs: number } | { result: string } | { succeeded: true }) & { progress?: string });

/** `workerData` of every thread. */
export interface ThreadData {
  tasksPath: string;
  concurrency: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** The BroadcastChannel where handlers' ctx.progress() reports go to the main thread. */
  progressChannel: string;
}

/** One ctx.progress() report, as the thread posts it on the progress channel. */
export interface ProgressReport {
  id: string;
  attempt: number;
  /** The reported value as JSON text. */
  value: string;
}
