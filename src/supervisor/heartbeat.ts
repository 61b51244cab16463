/**
 * The heartbeat, every lease/3 (PgQueuer beat at timeout/2 and ran jobs
 * twice): refreshes this supervisor's row and extends the lease of every
 * job it holds, in two statements. A held job whose lease could not be
 * extended is lost (recovered elsewhere or cancelled): it must not start,
 * and if running it is asked to stop.
 *
 * When the database goes away, the heartbeat is what probes for it: at
 * once, then with a backoff capped at lease/10, so that the leases are
 * renewed within lease/10 of the database's return and an outage of about
 * half a lease re-runs nothing. Only a heartbeat that got through declares
 * the database back (see health.ts), so renewal comes before any other
 * retried statement.
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import type { supervisorStatements } from '../db/sql/supervisor.js';
import type { Logger } from '../log.js';
import { AbortReason } from '../worker/progress.js';
import type { DatabaseHealth } from './health.js';
import type { Holdings } from './holdings.js';
import { reconnectDelayMs } from './backoff.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

export interface HeartbeatOptions {
  /** The supervisor's write connection (see Database.writePool), whose plans suit the lease extension's join. */
  pool: pg.Pool;
  sql: ReturnType<typeof supervisorStatements>;
  supervisorId: string;
  leaseMs: number;
  threads: number;
  concurrency: number;
  queues: string[];
  tasks: string[];
  holdings: Holdings;
  health: DatabaseHealth;
  log: Logger;
}

export class Heartbeat implements Service {
  readonly name = 'heartbeat';
  private readonly periodic: Periodic;

  constructor(private readonly options: HeartbeatOptions) {
    const { leaseMs, health, log } = options;
    const probeCapMs = Math.max(100, Math.floor(leaseMs / 10));
    this.periodic = new Periodic({
      name: 'heartbeat',
      intervalMs: Math.floor(leaseMs / 3),
      task: async () => {
        await this.beat();
        health.up();
      },
      retryDelayMs: (failures) => Math.min(reconnectDelayMs(failures), probeCapMs),
      health,
      log,
    });
    health.whenLost(() => this.periodic.runSoon());
  }

  /** Registers the supervisor row, then beats every lease/3. */
  async start(): Promise<void> {
    await this.touch();
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  private async touch(): Promise<void> {
    const { pool, sql, supervisorId, threads, concurrency, queues, tasks, leaseMs } = this.options;
    await pool.query(sql.touchSupervisor, [supervisorId, hostname(), process.pid, threads, concurrency, queues, tasks, leaseMs]);
  }

  private async beat(): Promise<void> {
    const { pool, sql, supervisorId, leaseMs, holdings } = this.options;
    await this.touch();
    const { ids, attempts } = holdings.leases();
    if (ids.length === 0) return;
    const { rows } = await pool.query<{ job_id: string }>(sql.extendLeases, [supervisorId, ids, attempts, leaseMs]);
    if (rows.length < ids.length) this.dropLost(ids, new Set(rows.map((row) => row.job_id)));
  }

  private dropLost(sent: string[], extended: Set<string>): void {
    const lost: string[] = [];
    for (const id of sent) {
      const held = this.options.holdings.get(id);
      if (extended.has(id) || !held) continue; // written back meanwhile: not lost
      lost.push(id);
      // Not started: it never will be. Running: its signal is aborted.
      if (!held.batch.release(held.index)) held.batch.progress.requestAbort(held.index, AbortReason.LeaseLost);
      else this.options.holdings.remove(held.job);
    }
    if (lost.length > 0) {
      this.options.log.warn({ jobIds: lost.slice(0, 20), count: lost.length }, 'lost the lease of held jobs (recovered elsewhere or cancelled); they are not run further');
    }
  }
}
