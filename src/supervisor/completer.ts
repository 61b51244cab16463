/**
 * Writes job outcomes back to PostgreSQL in batches: every outcome that
 * arrives while a write is in flight goes into the next one, so under load
 * one statement carries many jobs and at rest each job is written at once.
 * Writes that fail (the database is down) are kept and retried; an outcome
 * is never dropped.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import type { Logger } from '../log.js';
import type { Outcome } from '../worker/protocol.js';
import { reconnectDelayMs, retryDelayMs } from './backoff.js';
import type { ClaimedJob } from './claimed-job.js';

/** Where a job ended up after its outcome was written. */
export type Written = 'success' | 'retried' | 'failed' | 'stale';

interface Pending {
  job: ClaimedJob;
  error: string | null;
  retryDelayMs: number;
}

export interface CompleterOptions {
  pool: pg.Pool;
  statement: Statement;
  supervisorId: string;
  log: Logger;
  /** Called once per job after its outcome was written (or refused by the fence). */
  onWritten: (job: ClaimedJob, result: Written) => void;
}

/** Largest number of outcomes in one statement. */
const MAX_BATCH = 1000;

export class Completer {
  private buffer: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly options: CompleterOptions) {}

  /** Queues a job's outcome for writing. */
  add(job: ClaimedJob, outcome: Outcome, retryDelay = retryDelayMs(job.attempt)): void {
    this.buffer.push({ job, error: outcome?.error ?? null, retryDelayMs: retryDelay });
    this.flushing ??= this.flushLoop();
  }

  /** Outcomes not yet written. */
  get backlog(): number {
    return this.buffer.length;
  }

  /** Resolves once every outcome queued so far has been written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    // Let outcomes that arrive in this turn of the event loop join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, MAX_BATCH);
        try {
          await this.write(batch);
          this.failures = 0;
        } catch (error) {
          this.buffer.unshift(...batch);
          const delay = reconnectDelayMs(this.failures++);
          this.options.log.warn(
            { err: error, outcomes: this.buffer.length, retryInMs: delay },
            'could not write job outcomes; will retry',
          );
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const { pool, statement, supervisorId, onWritten, log } = this.options;
    const { rows } = await pool.query<{ job_id: string; job_status: string }>(statement, [
      batch.map((p) => p.job.id),
      batch.map((p) => p.job.attempt),
      batch.map((p) => p.error),
      batch.map((p) => p.retryDelayMs),
      supervisorId,
    ]);
    const status = new Map(rows.map((row) => [row.job_id, row.job_status]));
    let stale = 0;
    for (const { job } of batch) {
      const written = toWritten(status.get(job.id));
      if (written === 'stale') stale++;
      onWritten(job, written);
    }
    if (stale > 0) {
      log.warn({ stale }, 'outcomes refused: this supervisor no longer holds those jobs (lease lost or job cancelled)');
    }
  }
}

function toWritten(status: string | undefined): Written {
  switch (status) {
    case 'success':
      return 'success';
    case 'pending':
      return 'retried';
    case 'failed':
      return 'failed';
    default:
      return 'stale';
  }
}
