/** A job this supervisor holds, as the claim returned it. */
import type { JobEnvelope } from '../worker/protocol.js';

export interface ClaimedJob extends JobEnvelope {
  /** Seconds from run_at to the claim, by the database's clock. */
  lagSeconds: number;
  /** Claimed by the gated claim (a limited queue, or a concurrency key): its end frees a slot others may wait for. */
  gated?: boolean;
  /** The trace context of the code that added it (JSON text), or null. */
  traceContext: string | null;
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
  /** Absent from the rate-limit hint row and from hand-offs of older producers. */
  trace_context?: string | null;
}

/** The timeout of a job of `task` whose own is `own` (see TaskPolicies). */
export type TimeoutFor = (task: string, own: number | null) => number;

/** A claimed row as a job; a job without its own timeout gets its task's, else the supervisor's (`--job-timeout`). */
export function fromClaimRow(row: ClaimRow, timeoutFor: TimeoutFor): ClaimedJob {
  return {
    id: row.id,
    task: row.task,
    queue: row.queue,
    payload: row.payload,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    timeoutMs: timeoutFor(row.task, row.timeout_ms),
    lagSeconds: row.lag_s,
    traceContext: row.trace_context ?? null,
  };
}
