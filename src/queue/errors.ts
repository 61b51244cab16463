/** What {@link Queue.waitFor} rejects with. */
import type { JobDetails } from './queue.js';

/** The job ended without succeeding: failed for good (its last error is the message) or cancelled. */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';

  constructor(readonly job: JobDetails) {
    super(
      job.job_status === 'cancelled'
        ? `job ${job.job_id} (${job.task}) was cancelled`
        : `job ${job.job_id} (${job.task}) failed after ${job.attempts} attempt${job.attempts === 1 ? '' : 's'}: ${job.last_error ?? 'no error recorded'}`,
    );
  }
}

/** The job had not ended when the wait's timeout ran out; it goes on (cancel it to stop it). */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';

  constructor(readonly job: JobDetails, timeoutMs: number) {
    super(`job ${job.job_id} (${job.task}) is still ${job.job_status} after waiting ${timeoutMs} ms; it goes on running (cancel it to stop it)`);
  }
}
