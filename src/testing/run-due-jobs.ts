/**
 * runDueJobs: runs the jobs that are due, once, with a real supervisor in
 * the caller's process (handlers in its worker threads, as in production),
 * and returns what became of each.
 */
import { startSupervisor, type SupervisorOptions } from '../supervisor/supervisor.js';
import type { JobEndEvent } from '../supervisor/job-events.js';

/** What became of one attempt. */
export interface JobOutcome extends JobEndEvent {
  /** `retried`: failed, with attempts left (due again after its backoff, so not run again here). */
  outcome: 'succeeded' | 'retried' | 'failed' | 'snoozed';
}

/**
 * Options: those of {@link startSupervisor} (`tasks` is required); by default
 * one thread, no metrics endpoint, and only warnings logged.
 */
export type RunDueJobsOptions = SupervisorOptions & { tasks: string };

/**
 * Starts a supervisor, runs every job that is due (and any that the runs
 * make due), waits until none is left, stops, and returns the outcome of
 * each attempt in the order they were written. Jobs due later (a retry's
 * backoff, a future `runAt`) are left for a later call.
 *
 * ```ts
 * await queue.add('sendReceipt', { orderId: 42 });
 * const [run] = await runDueJobs({ tasks: './tasks.js' });
 * assert.equal(run.outcome, 'succeeded');
 * ```
 */
export async function runDueJobs(options: RunDueJobsOptions): Promise<JobOutcome[]> {
  const supervisor = await startSupervisor({ threads: 1, metricsPort: 0, logLevel: 'warn', ...options });
  const outcomes: JobOutcome[] = [];
  for (const outcome of ['succeeded', 'retried', 'failed', 'snoozed'] as const) {
    supervisor.on(outcome, (event) => outcomes.push({ ...event, outcome }));
  }
  try {
    await supervisor.whenIdle();
  } finally {
    await supervisor.stop();
  }
  return outcomes;
}
