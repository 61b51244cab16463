/**
 * The `ctx` a handler receives. Its AbortSignal and logger are made on first
 * use: most handlers touch neither, and an AbortController per job was the
 * largest cost of a no-op job in a thread (a CPU profile of the 100k
 * drain: about 4 µs per job, and much of the thread's garbage).
 */
import { ConfigError, parseDuration } from '../config.js';
import { NUL_ESCAPE } from '../json.js';
import type { Logger } from '../log.js';
import type { JobEnvelope, ProgressReport } from './protocol.js';
import type { TaskContext } from './tasks.js';

/**
 * What `ctx.snooze()` returns (or throws): run the job again after `ms`,
 * without counting the attempt.
 */
export class Snooze {
  constructor(readonly ms: number) {}
}

/** Longest snooze: the delay is stored in milliseconds as a 32-bit int. */
const MAX_SNOOZE_MS = 2_147_483_647;

/** Largest ctx.progress() value, as JSON text: it is rewritten in the job's row while the job runs. */
export const MAX_PROGRESS_BYTES = 4096;

/**
 * A job posts its progress at most this often, and a report made sooner is
 * not posted; the last report travels with the job's outcome instead. A
 * handler may report in a tight loop without flooding the main thread.
 */
const PROGRESS_POST_MS = 100;

export class JobContext implements TaskContext {
  readonly jobId: string;
  readonly task: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  #controller: AbortController | undefined;
  #abortReason: Error | undefined;
  #logger: Logger | undefined;
  readonly #threadLog: () => Logger;
  readonly #post: (report: ProgressReport) => void;
  #progressPostedAt = 0;
  #lastProgress: string | undefined;

  /**
   * `threadLog` gives the thread's logger, of which the job's is a child;
   * `post` sends a progress report to the main thread.
   */
  constructor(job: JobEnvelope, threadLog: () => Logger, post: (report: ProgressReport) => void) {
    this.jobId = job.id;
    this.task = job.task;
    this.queue = job.queue;
    this.attempt = job.attempt;
    this.maxAttempts = job.maxAttempts;
    this.#threadLog = threadLog;
    this.#post = post;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortReason) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  get logger(): Logger {
    this.#logger ??= this.#threadLog().child({ jobId: this.jobId, task: this.task, attempt: this.attempt });
    return this.#logger;
  }

  snooze(delay: number | string): Snooze {
    const ms = typeof delay === 'number' ? delay : parseDuration(delay, 'ctx.snooze()');
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SNOOZE_MS) {
      throw new ConfigError(`ctx.snooze() takes a delay from 0 to about 24 days, in ms or as '5m' (got ${String(delay)})`);
    }
    return new Snooze(Math.round(ms));
  }

  progress(value: unknown): void {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new ConfigError(`ctx.progress() takes a number or a small JSON value; this one cannot be serialised (${(error as Error).message})`);
    }
    if (text === undefined || NUL_ESCAPE.test(text)) {
      throw new ConfigError(`ctx.progress() takes a number or a small JSON value without NUL characters (got ${String(value)})`);
    }
    if (Buffer.byteLength(text) > MAX_PROGRESS_BYTES) {
      throw new ConfigError(`ctx.progress() takes at most ${MAX_PROGRESS_BYTES} bytes of JSON (got ${Buffer.byteLength(text)}); report a summary and return the details`);
    }
    this.#lastProgress = text;
    const now = Date.now();
    if (now - this.#progressPostedAt < PROGRESS_POST_MS) return;
    this.#progressPostedAt = now;
    this.#post({ id: this.jobId, attempt: this.attempt, value: text });
  }

  /** The last progress report (JSON text), which goes with the job's outcome; undefined when none was made. */
  get lastProgress(): string | undefined {
    return this.#lastProgress;
  }

  /** Aborts the signal, now or whenever the handler first asks for it. The first reason stays. */
  abort(reason: Error): void {
    if (this.#abortReason) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  /** Why the job was aborted, if it was. */
  get abortReason(): Error | undefined {
    return this.#abortReason;
  }
}
