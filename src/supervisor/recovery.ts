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
import type { Logger } from '../log.js';
import type { DatabaseHealth } from './health.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

export interface RecoveredJob {
  job_id: string;
  task: string;
  queue: string;
  job_status: 'pending' | 'failed';
  /** The supervisors whose leases expired (the same on every row). */
  lost_by: string[];
}

export interface RecoveryOptions {
  pool: pg.Pool;
  statement: Statement;
  schema: string;
  leaseMs: number;
  log: Logger;
  health: DatabaseHealth;
  /** Whether this supervisor leads maintenance; only the leader recovers. */
  leads: () => boolean;
  onRecovered: (jobs: RecoveredJob[]) => void;
}

/** A supervisors row silent for this many leases is removed. */
const FORGET_AFTER_LEASES = 3;

export class Recovery implements Service {
  readonly name = 'lease recovery';
  private readonly periodic: Periodic;

  constructor(private readonly options: RecoveryOptions) {
    this.periodic = new Periodic({
      name: 'lease recovery',
      intervalMs: Math.floor(options.leaseMs / 3),
      // While the database is away this supervisor's own leases may have run
      // out: its heartbeat must renew them before it recovers anything.
      task: () => (options.health.isDown || !options.leads() ? Promise.resolve() : this.recover()),
      health: options.health,
      log: options.log,
    });
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** Recovers soon (this supervisor has just become the leader). */
  runSoon(): void {
    this.periodic.runSoon();
  }

  /** Recovers expired leases now. */
  async recover(): Promise<void> {
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
