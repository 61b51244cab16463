/**
 * A batch of jobs sent to one thread, and how each job ended: normally from
 * the thread's outcomes; when the thread died, from the shared progress.
 */
import { BatchProgress, JobState } from './progress.js';
import type { BatchTask, JobEnvelope, Outcome } from './protocol.js';

/**
 * What to write for a job:
 * - `success`;
 * - `error`: the attempt failed; retried after a backoff while attempts remain;
 * - `requeue`: stopped by shutdown; pending again now, the attempt counted;
 * - `release`: never started, or killed with its thread through no fault of
 *   its own; pending again now, the attempt not counted;
 * - `snooze`: the handler asked to run again after `delayMs`; the attempt
 *   not counted.
 */
export type JobResult =
  | { kind: 'success'; result?: string; progress?: string }
  | { kind: 'error'; error: string; progress?: string }
  | { kind: 'requeue'; error: string }
  | { kind: 'release' }
  | { kind: 'snooze'; delayMs: number; progress?: string };

/** Why a thread ended while it held this batch. */
export type ThreadDeath =
  /** We terminated it because `culprit` did not stop after its signal was aborted (timeout or cancel). */
  | { cause: 'stopped'; culprit: { batch: Batch; index: number }; error: string }
  /** We terminated it at the end of a shutdown. */
  | { cause: 'shutdown' }
  /**
   * It died by itself: process.exit(), out of memory, an uncaught error.
   * `culpritKnown` when a job of the thread recorded that it called
   * process.exit(); the thread's other running jobs are then innocent.
   */
  | { cause: 'crash'; error: string; culpritKnown: boolean };

export class Batch<J extends JobEnvelope = JobEnvelope> {
  readonly progress: BatchProgress;
  /** Jobs whose result was settled early (released at shutdown or after a lost lease). */
  private readonly settledEarly = new Set<number>();

  constructor(readonly jobs: J[]) {
    this.progress = BatchProgress.create(jobs.length);
  }

  /** The piscina task for this batch. */
  get task(): BatchTask {
    return { jobs: this.jobs, progress: this.progress.buffer };
  }

  /** Takes back job `index` if it has not started; its result is then settled by the caller. */
  release(index: number): boolean {
    if (!this.progress.tryRelease(index)) return false;
    this.settledEarly.add(index);
    return true;
  }

  /** Results of the jobs not settled early, from the thread's outcomes. */
  settle(outcomes: Outcome[]): Map<number, JobResult> {
    return this.collect((index) => {
      if (this.progress.state(index) === JobState.Released) return { kind: 'release' };
      const outcome = outcomes[index];
      if (!outcome) return { kind: 'success' };
      const progress = outcome.progress === undefined ? {} : { progress: outcome.progress };
      if ('result' in outcome) return { kind: 'success', result: outcome.result, ...progress };
      if ('succeeded' in outcome) return { kind: 'success', ...progress };
      return 'snoozeMs' in outcome ? { kind: 'snooze', delayMs: outcome.snoozeMs, ...progress } : { kind: 'error', error: outcome.error, ...progress };
    });
  }

  /** Results of the jobs not settled early, after the thread died. */
  settleAfterDeath(death: ThreadDeath): Map<number, JobResult> {
    return this.collect((index) => {
      switch (this.progress.state(index)) {
        case JobState.Succeeded:
          return { kind: 'success' };
        case JobState.Failed:
          return { kind: 'error', error: `the job failed, and its error was lost when its thread ended (${describeDeath(death)})` };
        case JobState.Running:
          return this.runningAtDeath(index, death);
        default:
          return { kind: 'release' };
      }
    });
  }

  private runningAtDeath(index: number, death: ThreadDeath): JobResult {
    switch (death.cause) {
      case 'stopped':
        return death.culprit.batch === this && death.culprit.index === index
          ? { kind: 'error', error: death.error }
          : { kind: 'release' };
      case 'shutdown':
        return { kind: 'requeue', error: 'aborted: the supervisor shut down before the job finished (--shutdown-timeout)' };
      case 'crash':
        return !death.culpritKnown || this.progress.culprit === index
          ? { kind: 'error', error: death.error }
          : { kind: 'release' };
    }
  }

  private collect(result: (index: number) => JobResult): Map<number, JobResult> {
    const results = new Map<number, JobResult>();
    for (let index = 0; index < this.jobs.length; index++) {
      if (!this.settledEarly.has(index)) results.set(index, result(index));
    }
    return results;
  }
}

function describeDeath(death: ThreadDeath): string {
  return death.cause === 'shutdown' ? 'shutdown' : death.error;
}
