/**
 * The `ctx` a handler receives. Its AbortSignal and logger are made on first
 * use: most handlers touch neither, and an AbortController per job was the
 * largest cost of a no-op job in a thread (a CPU profile of the 100k
 * drain: about 4 µs per job, and much of the thread's garbage).
 */
import { ConfigError, parseDuration } from '../config.js';
import type { Logger } from '../log.js';
import type { JobEnvelope } from './protocol.js';
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

  /** `threadLog` gives the thread's logger, of which the job's is a child. */
  constructor(job: JobEnvelope, threadLog: () => Logger) {
    this.jobId = job.id;
    this.task = job.task;
    this.queue = job.queue;
    this.attempt = job.attempt;
    this.maxAttempts = job.maxAttempts;
    this.#threadLog = threadLog;
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
