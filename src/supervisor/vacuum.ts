/**
 * Vacuum, on the maintenance leader: when the jobs table has piled up dead
 * rows that no vacuum has cleared (autovacuum turned off, or behind on a
 * busy server), the leader vacuums it, at autovacuum's pace. Every claim
 * and completion leaves a dead row, and every claim walks the dead entries
 * at the front of the claim index until a vacuum removes them: without
 * one, a busy table grows without end and its claims slow down. Where
 * autovacuum keeps up (migrations/006_maintenance.sql tunes it for this
 * table), this service only looks, once a minute.
 */
import type pg from 'pg';
import type { maintenanceStatements } from '../db/sql/maintenance.js';
import { LeaderTask, type LeaderTaskOptions } from './leader-task.js';

/** How often to look, and how long after any vacuum the table is left alone. */
export const VACUUM_INTERVAL_MS = 60_000;

export interface VacuumOptions extends LeaderTaskOptions {
  pool: pg.Pool;
  sql: Pick<ReturnType<typeof maintenanceStatements>, 'needsVacuum' | 'vacuumJobs' | 'vacuumPace'>;
  intervalMs?: number;
}

export class Vacuum extends LeaderTask {
  private readonly intervalMs: number;

  constructor(private readonly options: VacuumOptions) {
    const intervalMs = options.intervalMs ?? VACUUM_INTERVAL_MS;
    super('vacuum', intervalMs, options);
    this.intervalMs = intervalMs;
  }

  protected async run(): Promise<void> {
    const { pool, sql, log } = this.options;
    const { rows } = await pool.query<{ dead: number }>(sql.needsVacuum, [this.intervalMs]);
    if (rows.length === 0) return;
    const client = await pool.connect();
    try {
      const started = performance.now();
      await client.query(sql.vacuumPace);
      await client.query(sql.vacuumJobs.text);
      const ms = Math.round(performance.now() - started);
      log.info({ deadRows: rows[0]!.dead, ms }, `vacuumed the jobs table (${rows[0]!.dead} dead rows that no vacuum had cleared) in ${ms} ms`);
    } finally {
      client.release();
    }
  }
}
