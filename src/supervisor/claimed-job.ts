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
  run_at_ms: number;
}

export function fromClaimRow(row: ClaimRow): ClaimedJob {
  return {
    id: row.id,
    task: row.task,
    queue: row.queue,
    payload: row.payload,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAtMs: row.run_at_ms,
  };
}
