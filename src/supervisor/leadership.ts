/**
 * The maintenance leader: one supervisor of a schema at a time runs lease
 * recovery, retention and vacuum (and any later scheduler), chosen through the
 * `leader` row (migrations/006_maintenance.sql).
 *
 * The leader holds the row for a term of two thirds of a lease and renews
 * it every lease/6, so it can miss a renewal or two (a slow database, a
 * long pause) without losing the lead. The others try to take it every
 * lease/3: when the leader dies, one of them leads within a lease of its
 * last renewal. A leader that shuts down resigns, and another leads at its
 * next try. A leader counts its term from before it asked, so it stops
 * acting as leader no later than the database frees the row; two leaders
 * at once can only happen around a clock jump, and every leader-only task
 * is safe to run twice.
 */
import type pg from 'pg';
import type { maintenanceStatements } from '../db/sql/maintenance.js';
import type { Logger } from '../log.js';
import type { DatabaseHealth } from './health.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

export interface LeadershipOptions {
  pool: pg.Pool;
  sql: Pick<ReturnType<typeof maintenanceStatements>, 'electLeader' | 'resignLeader'>;
  supervisorId: string;
  leaseMs: number;
  health: DatabaseHealth;
  log: Logger;
  /** Called when this supervisor starts or stops leading. */
  onChange: (leads: boolean) => void;
}

export class Leadership implements Service {
  readonly name = 'leadership';
  private readonly periodic: Periodic;
  /** When our term ends, by this process's clock; 0 when not leading. */
  private termEnd = 0;

  constructor(private readonly options: LeadershipOptions) {
    const { leaseMs, health, log } = options;
    this.periodic = new Periodic({
      name: 'leader election',
      intervalMs: () => Math.floor(this.leads ? leaseMs / 6 : leaseMs / 3),
      task: () => this.elect(),
      health,
      log,
    });
  }

  /** Whether this supervisor leads right now. */
  get leads(): boolean {
    return Date.now() < this.termEnd;
  }

  /** Tries to lead at once (the first supervisor of a schema leads from its start), then keeps trying or renewing. */
  async start(): Promise<void> {
    await this.elect().catch((error: unknown) => this.options.health.failed(error, 'leader election'));
    this.periodic.start();
  }

  /** Stops trying, and resigns when leading so that another supervisor takes over at its next try. */
  async stop(): Promise<void> {
    await this.periodic.stop();
    if (!this.leads) return;
    this.setTerm(0);
    const { pool, sql, supervisorId, log } = this.options;
    await pool.query(sql.resignLeader, [supervisorId]).catch((error: unknown) => log.warn({ err: error }, 'could not resign the lead; another supervisor takes it when its term ends'));
  }

  private async elect(): Promise<void> {
    const { pool, sql, supervisorId, leaseMs } = this.options;
    const term = Math.floor((leaseMs * 2) / 3);
    const asked = Date.now();
    const { rows } = await pool.query(sql.electLeader, [supervisorId, term]);
    this.setTerm(rows.length > 0 ? asked + term : 0);
  }

  private setTerm(termEnd: number): void {
    const led = this.leads;
    this.termEnd = termEnd;
    const leads = this.leads;
    if (led === leads) return;
    this.options.log.info({ supervisorId: this.options.supervisorId, leads }, leads ? 'this supervisor now leads maintenance (lease recovery, retention, vacuum, cron)' : 'this supervisor no longer leads maintenance');
    this.options.onChange(leads);
  }
}
