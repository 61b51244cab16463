/**
 * Retention: finished jobs are deleted once they are older than the period
 * kept for their outcome (`--keep-succeeded`, `--keep-failed`,
 * `--keep-cancelled`; 0 keeps forever). The maintenance leader runs it
 * every minute (or every half of the shortest period, when that is
 * shorter); `supervisor prune` runs the same {@link prune} once.
 *
 * Deletion goes in batches of a thousand rows, oldest first, each its own
 * short statement that skips rows locked by others, with a pause as long
 * as the batch took: a backlog of millions of rows is worked off at a
 * steady pace, without long locks or a burst of WAL, and claims never wait
 * behind it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { RetentionConfig } from '../config.js';
import { FINISHED_STATUSES, type FinishedStatus, type maintenanceStatements } from '../db/sql/maintenance.js';
import { LeaderTask, type LeaderTaskOptions } from './leader-task.js';

/** Rows deleted per statement. */
export const PRUNE_BATCH = 1000;

export type Deleted = Record<FinishedStatus, number>;

export interface PruneOptions {
  pool: pg.Pool;
  sql: Pick<ReturnType<typeof maintenanceStatements>, 'deleteFinished'>;
  keep: RetentionConfig;
  /** Called after each batch with the rows it deleted. */
  onDeleted?: (status: FinishedStatus, count: number) => void;
  /** Checked between batches: true stops early (a shutdown). */
  stopped?: () => boolean;
}

/** The period kept for each finished status, in ms (0: forever). */
export function keepPeriods(keep: RetentionConfig): Record<FinishedStatus, number> {
  return { success: keep.keepSucceeded, failed: keep.keepFailed, cancelled: keep.keepCancelled };
}

/** Deletes every finished job past its period, in paced batches; returns the counts by status. */
export async function prune(options: PruneOptions): Promise<Deleted> {
  const { pool, sql, onDeleted, stopped = () => false } = options;
  const periods = keepPeriods(options.keep);
  const deleted: Deleted = { success: 0, failed: 0, cancelled: 0 };
  for (const status of FINISHED_STATUSES) {
    if (periods[status] === 0) continue;
    for (let count = PRUNE_BATCH; count === PRUNE_BATCH && !stopped(); ) {
      const started = performance.now();
      const { rows } = await pool.query<{ deleted: number }>(sql.deleteFinished[status], [periods[status], PRUNE_BATCH]);
      count = rows[0]!.deleted;
      deleted[status] += count;
      if (count > 0) onDeleted?.(status, count);
      if (count === PRUNE_BATCH) await sleep(performance.now() - started, undefined, { ref: false });
    }
  }
  return deleted;
}

export interface RetentionOptions extends Omit<PruneOptions, 'stopped'>, LeaderTaskOptions {}

/** The leader's retention service; a stop ends a run between two batches. */
export class Retention extends LeaderTask {
  constructor(private readonly options: RetentionOptions) {
    super('retention', retentionIntervalMs(options.keep), options);
  }

  protected async run(): Promise<void> {
    const deleted = await prune({ ...this.options, stopped: () => this.stopping });
    const total = deleted.success + deleted.failed + deleted.cancelled;
    if (total > 0) this.options.log.debug({ deleted }, `retention deleted ${total} finished job(s)`);
  }
}

/** Every minute, or every half of the shortest period kept when that is shorter (at least a second). */
export function retentionIntervalMs(keep: RetentionConfig): number {
  const periods = Object.values(keepPeriods(keep)).filter((ms) => ms > 0);
  return Math.max(1000, Math.min(60_000, ...periods.map((ms) => ms / 2)));
}
