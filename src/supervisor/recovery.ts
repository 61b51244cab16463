/**
 * Lease recovery, every lease/3 on the maintenance leader (see
 * leadership.ts; an advisory lock in the statement keeps even two leaders
 * from recovering at once): jobs whose lease expired because their
 * supervisor died or lost the database go back to pending (or failed when
 * out of attempts). A killed supervisor's jobs run again within
 * lease + lease/3.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import { LeaderTask, type LeaderTaskOptions } from './leader-task.js';

export interface RecoveredJob {
  job_id: string;
  task: string;
  queue: string;
  job_status: 'pending' | 'failed';
  /** The supervisors whose leases expired (the same on every row). */
  lost_by: string[];
}

export interface RecoveryOptions extends LeaderTaskOptions {
  pool: pg.Pool;
  statement: Statement;
  schema: string;
  leaseMs: number;
  onRecovered: (jobs: RecoveredJob[]) => void;
}

/** A supervisors row silent for this many leases is removed. */
const FORGET_AFTER_LEASES = 3;

export class Recovery extends LeaderTask {
  constructor(private readonly options: RecoveryOptions) {
    super('lease recovery', Math.floor(options.leaseMs / 3), options);
  }

  /** Recovers expired leases now. */
  protected async run(): Promise<void> {
    const { pool, statement, schema, leaseMs, log, onRecovered } = this.options;
    const { rows } = await pool.query<RecoveredJob>(statement, [leaseMs * FORGET_AFTER_LEASES, schema]);
    if (rows.length === 0) return;
    const from = rows[0]!.lost_by;
    log.warn(
      { count: rows.length, failed: rows.filter((row) => row.job_status === 'failed').length, from },
      `recovered ${rows.length} job(s) whose lease expired (supervisor ${from.join(', ')} stopped renewing)`,
    );
    onRecovered(rows);
  }
}
