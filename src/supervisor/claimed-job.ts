/** A job this supervisor holds, as the claim returned it. */
import type { JobEnvelope } from '../worker/protocol.js';

export interface ClaimedJob extends JobEnvelope {
  /** `run_at` in epoch milliseconds, for queue-lag measurements. */
  runAtMs: number;
}

/** A row of the claim statement. */
export interface ClaimRow {
  id: string;
  task: string;
  queue: string;
  payload: string;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  run_at_ms: number;
}

/** A claimed row as a job; a job without its own timeout gets the supervisor's (`--job-timeout`). */
export function fromClaimRow(row: ClaimRow, defaultTimeoutMs: number): ClaimedJob {
  return {
    id: row.id,
    task: row.task,
    queue: row.queue,
    payload: row.payload,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms ?? defaultTimeoutMs,
    runAtMs: row.run_at_ms,
  };
}
