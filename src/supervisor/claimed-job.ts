/** A job this supervisor holds, as the claim returned it. */
import type { JobEnvelope } from '../worker/protocol.js';

export interface ClaimedJob extends JobEnvelope {
  /** Seconds from run_at to the claim, by the database's clock. */
  lagSeconds: number;
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
  lag_s: number;
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
    lagSeconds: row.lag_s,
  };
}
