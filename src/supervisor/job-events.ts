/**
 * Job events, for applications that embed a supervisor
 * (`startSupervisor(...).on('failed', ...)`). An event is built only when
 * someone listens to it, so a drain with no listener pays one count per job.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { Written } from './completer.js';
import type { ClaimedJob } from './claimed-job.js';

/** The job an event is about. */
export interface JobEvent {
  jobId: string;
  task: string;
  queue: string;
  /** 1 on the first run, 2 on the first retry, and so on. */
  attempt: number;
  maxAttempts: number;
}

/** How an attempt ended, once its outcome is written. */
export interface JobEndEvent extends JobEvent {
  /** How long the handler ran, in ms. */
  durationMs: number;
  /** The error it failed with (`retried`, `failed`). */
  error?: string;
  /** What it returned, as stored (`succeeded`). */
  result?: unknown;
}

/**
 * The events a {@link Supervisor} emits:
 * - `started`: a job was handed to a thread to run;
 * - `succeeded`, `retried` (failed, attempts remain), `failed` (failed for
 *   good), `snoozed`: its outcome was written. Outcomes refused by the
 *   fence (a cancelled job, a lost lease) and jobs handed back at shutdown
 *   emit nothing: they are not this supervisor's to report.
 */
export interface SupervisorEvents {
  started: [JobEvent];
  succeeded: [JobEndEvent];
  retried: [JobEndEvent];
  failed: [JobEndEvent];
  snoozed: [JobEndEvent];
}

const ENDS: Partial<Record<Written, 'succeeded' | 'retried' | 'failed' | 'snoozed'>> = {
  success: 'succeeded',
  retried: 'retried',
  failed: 'failed',
  snoozed: 'snoozed',
};

/**
 * Emits the events of the job flow on the supervisor (an EventEmitter). A
 * listener that throws is logged and the flow goes on: listeners run inside
 * the supervisor's own bookkeeping.
 */
export class JobEvents {
  constructor(
    private readonly emitter: EventEmitter<SupervisorEvents>,
    private readonly log: Logger,
  ) {}

  /** Jobs were handed to a thread. */
  started(jobs: readonly ClaimedJob[]): void {
    if (this.emitter.listenerCount('started') === 0) return;
    for (const job of jobs) this.emit('started', about(job));
  }

  /** A job's outcome was written as `written`, after it ran `durationMs`. */
  ended(job: ClaimedJob, written: Written, durationMs: number, outcome: { error?: string; result?: string }): void {
    const name = ENDS[written];
    if (!name || this.emitter.listenerCount(name) === 0) return;
    const event: JobEndEvent = { ...about(job), durationMs };
    if (outcome.error !== undefined) event.error = outcome.error;
    if (outcome.result !== undefined) event.result = JSON.parse(outcome.result);
    this.emit(name, event);
  }

  private emit<Name extends keyof SupervisorEvents>(name: Name, ...event: SupervisorEvents[Name]): void {
    try {
      (this.emitter.emit as (name: Name, ...event: SupervisorEvents[Name]) => boolean)(name, ...event);
    } catch (error) {
      this.log.error({ err: error, event: name, jobId: event[0].jobId }, `a listener of the supervisor's '${name}' event threw; the job is unaffected`);
    }
  }
}

function about(job: ClaimedJob): JobEvent {
  return { jobId: job.id, task: job.task, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts };
}
