/**
 * Writes job outcomes back to PostgreSQL in batches: every outcome that
 * arrives while a write is in flight goes into the next one, so under load
 * one statement carries many jobs and at rest each job is written at once.
 * Writes that fail (the database is down) are kept and retried by the same
 * loop, after a backoff and, while the database is down, after the
 * heartbeat got through (see health.ts); an outcome is never dropped.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import type { Logger } from '../log.js';
import type { JobResult } from '../worker/batch.js';
import type { ClaimedJob } from './claimed-job.js';
import type { DatabaseHealth } from './health.js';

/** Where a job ended up after its result was written; `stale` when the fence refused it. */
export type Written = 'success' | 'retried' | 'failed' | 'requeued' | 'released' | 'snoozed' | 'stale';

interface Pending {
  job: ClaimedJob;
  result: JobResult;
  retryDelayMs: number;
}

export interface CompleterOptions {
  pool: pg.Pool;
  statement: Statement;
  supervisorId: string;
  log: Logger;
  health: DatabaseHealth;
  /** Whether the fence is expected to refuse this job's outcome (it was cancelled): not worth a warning. */
  expectedStale: (job: ClaimedJob) => boolean;
  /** How long a failed attempt of a job waits before its retry (its task's backoff). */
  retryDelayMs: (job: ClaimedJob) => number;
  /** Called once per job after its outcome was written (or refused by the fence). */
  onWritten: (job: ClaimedJob, written: Written, result: JobResult) => void;
}

/** Largest number of outcomes in one statement. */
const MAX_BATCH = 1000;

export class Completer {
  private buffer: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly options: CompleterOptions) {}

  /** Queues a job's result for writing. */
  add(job: ClaimedJob, result: JobResult): void {
    this.buffer.push({ job, result, retryDelayMs: result.kind === 'error' ? this.options.retryDelayMs(job) : result.kind === 'snooze' ? result.delayMs : 0 });
    this.flushing ??= this.flushLoop();
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
          await this.options.health.backOff(error, `writing ${this.buffer.length} job outcome(s)`, this.failures++);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    const { pool, statement, supervisorId, onWritten, log } = this.options;
    const { rows } = await pool.query<{ job_id: string; job_status: string }>(statement, [
      batch.map((p) => p.job.id).join(','),
      batch.map((p) => p.job.attempt).join(','),
      batch.map((p) => p.result.kind).join(','),
      batch.map((p) => ('error' in p.result ? p.result.error : null)),
      batch.map((p) => p.retryDelayMs).join(','),
      supervisorId,
      optionalColumn(batch, (result) => ('result' in result ? result.result : undefined)),
      optionalColumn(batch, (result) => ('progress' in result ? result.progress : undefined)),
    ]);
    const status = new Map(rows.map((row) => [row.job_id, row.job_status]));
    const stale: string[] = [];
    for (const { job, result } of batch) {
      const written = toWritten(result, status.get(job.id));
      if (written === 'stale' && !this.options.expectedStale(job)) stale.push(job.id);
      onWritten(job, written, result);
    }
    if (stale.length > 0) {
      log.warn(
        { jobIds: stale.slice(0, 20), count: stale.length },
        `outcome of ${stale.length} job(s) not written (${stale.slice(0, 5).join(', ')}${stale.length > 5 ? ', …' : ''}): this supervisor no longer holds them (cancelled, or its lease was lost)`,
      );
    }
  }
}

function toWritten(result: JobResult, status: string | undefined): Written {
  if (status === undefined) return 'stale';
  if (result.kind === 'requeue') return 'requeued';
  if (result.kind === 'release') return 'released';
  if (result.kind === 'snooze') return 'snoozed';
  return status === 'success' ? 'success' : status === 'failed' ? 'failed' : 'retried';
}

/**
 * A column most batches do not use (results, last progress reports): one
 * value per job, or null for the whole batch when no job has one, so the
 * statement gets a null array and the common batch sends nothing.
 */
function optionalColumn(batch: Pending[], value: (result: JobResult) => string | undefined): (string | null)[] | null {
  return batch.some((p) => value(p.result) !== undefined) ? batch.map((p) => value(p.result) ?? null) : null;
}
