/**
 * Vacuum, on the maintenance leader: when the jobs table has piled up dead
 * rows that no vacuum has cleared (autovacuum turned off, or behind on a
 * busy server), the leader vacuums it, at autovacuum's pace. Every claim
 * and completion leaves a dead row, and every claim walks the dead entries
 * at the front of the claim index until a vacuum removes them: without
 * one, a busy table grows without end and its claims slow down. Likewise
 * it analyzes the table when its statistics are stale: the claim's plan is
 * made from them, and one made while the table was empty (a supervisor
 * started before the first jobs) or held only finished jobs reads every
 * pending job on every claim until a new plan is made. Where
 * autovacuum keeps up (migrations/006_maintenance.sql tunes it for this
 * table), this service only looks: every 2 s while the table changes,
 * every 10 s while it does not.
 *
 * The look is frequent on a busy table because the cost of waiting grows
 * with the queue's pace: a queue draining thousands of jobs a second
 * leaves that many dead entries a second for every claim to walk. What
 * bounds the vacuums is their own cost: after one (or an analyze), the
 * table is left alone for ten times as long as it took, so a large table
 * (whose every vacuum reads its indexes whole) is vacuumed less often than
 * a small one, and vacuuming never takes more than a tenth of the time. An
 * analyze comes at most once a minute.
 *
 * The VACUUM runs on a borrowed connection, the supervisor's LISTEN one
 * (see Wakeup.lend), rather than a connection of its own: a supervisor
 * never holds more than three, and the leader polls for the seconds a
 * vacuum takes. When there is nothing to borrow (not listening), the
 * vacuum waits for the next look. Behind a pooler with no LISTEN
 * connection, it borrows one of the pooler's instead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { maintenanceStatements } from '../db/sql/maintenance.js';
import { LeaderTask, type LeaderTaskOptions } from './leader-task.js';

/** How often to look while the table changes, and how long at least after any vacuum it is left alone. */
export const VACUUM_INTERVAL_MS = 2000;
/**
 * How long at least after any analyze the table is left alone. The first
 * matters (a plan made for an empty table); during a long drain, fresh
 * statistics every few seconds would only make every supervisor plan again.
 */
const ANALYZE_QUIET_MS = 60_000;
/** While the table does not change, looks are this many times further apart. */
const IDLE_FACTOR = 5;
/** After a vacuum of ours, the table is left alone this many times as long as it took. */
const QUIET_FACTOR = 10;
/** How long a shutdown waits for a vacuum in progress before cancelling it. */
const STOP_GRACE_MS = 5000;

/** Runs `use` on a connection lent for the while, or resolves to undefined when none can be lent now. */
export type BorrowConnection = <T>(use: (client: pg.ClientBase) => Promise<T>) => Promise<T | undefined>;

/** Lends a connection of `pool` (behind a pooler, which has connections to spare). */
export async function withClient<T>(pool: pg.Pool, use: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await use(client);
  } finally {
    client.release();
  }
}

export interface VacuumOptions extends LeaderTaskOptions {
  /** For the look and for cancelling a vacuum at shutdown. */
  pool: pg.Pool;
  /** Where the VACUUM itself runs. */
  borrow: BorrowConnection;
  sql: Pick<ReturnType<typeof maintenanceStatements>, 'needsVacuum' | 'vacuumJobs' | 'vacuumAnalyzeJobs' | 'analyzeJobs' | 'vacuumPace' | 'cancelVacuum'>;
  intervalMs?: number;
}

/** What a look found (see needs-vacuum in db/sql/maintenance.ts). */
interface Look {
  dead: number;
  changedSinceAnalyze: number;
  changes: number;
  vacuum: boolean;
  analyze: boolean;
}

export class Vacuum extends LeaderTask {
  private readonly intervalMs: number;
  /** The backend running our VACUUM, while one runs. */
  private vacuumPid: number | undefined;
  /** How long our last vacuum or analyze took; undefined until we have run one. */
  private lastVacuumMs: number | undefined;
  /** The table's count of row changes at the last look, and whether it had moved since the look before. */
  private changes: number | undefined;
  private busy = true;

  constructor(private readonly options: VacuumOptions) {
    const intervalMs = options.intervalMs ?? VACUUM_INTERVAL_MS;
    super('vacuum', intervalMs, options);
    this.intervalMs = intervalMs;
  }

  protected override nextIntervalMs(): number {
    return this.busy ? this.intervalMs : IDLE_FACTOR * this.intervalMs;
  }

  /**
   * Gives a vacuum in progress a few seconds to finish (on a table of ten
   * million rows it takes about two), then cancels it rather than hold up
   * the shutdown: the next leader starts it again.
   */
  override async stop(): Promise<void> {
    const stopped = super.stop();
    const finished = await Promise.race([stopped.then(() => true), sleep(STOP_GRACE_MS, false, { ref: false })]);
    const pid = this.vacuumPid;
    if (!finished && pid !== undefined) await this.options.pool.query(this.options.sql.cancelVacuum, [pid]).catch(() => undefined);
    await stopped;
  }

  protected async run(): Promise<void> {
    const { pool, sql, borrow, log } = this.options;
    const quietMs = Math.max(this.intervalMs, QUIET_FACTOR * (this.lastVacuumMs ?? 0));
    const { rows: [look] } = await pool.query<Look>(sql.needsVacuum, [Math.round(quietMs), Math.round(Math.max(ANALYZE_QUIET_MS, quietMs))]);
    if (look === undefined) return;
    this.busy = this.changes === undefined || look.changes !== this.changes;
    this.changes = look.changes;
    if (!(look.vacuum || look.analyze) || this.stopping) return;
    const statement = look.vacuum ? (look.analyze ? sql.vacuumAnalyzeJobs : sql.vacuumJobs) : sql.analyzeJobs;
    const ms = await borrow((client) => this.vacuum(client, statement.text));
    if (ms === undefined) return;
    this.report(look, ms);
    this.lastVacuumMs = ms;
  }

  /** Logs a vacuum or analyze: on a busy queue they come every few seconds, so the first at info, later ones at debug. */
  private report(look: Look, ms: number): void {
    const { log } = this.options;
    const did = [look.vacuum && `vacuumed (${look.dead} dead rows)`, look.analyze && `analyzed (${look.changedSinceAnalyze} rows changed since its statistics were taken)`].filter(Boolean).join(' and ');
    const fields = { vacuumed: look.vacuum, analyzed: look.analyze, deadRows: look.dead, changedRows: look.changedSinceAnalyze, ms };
    if (this.lastVacuumMs === undefined) {
      log.info(fields, `${did} the jobs table in ${ms} ms; autovacuum is off or behind, so this supervisor does it while it leads (later ones are logged at debug)`);
    } else {
      log.debug(fields, `${did} the jobs table in ${ms} ms`);
    }
  }

  /** Runs `text` (a VACUUM or ANALYZE) on `client`; resolves to how long it took, or undefined when cancelled by stop(). */
  private async vacuum(client: pg.ClientBase, text: string): Promise<number | undefined> {
    const { sql } = this.options;
    const started = performance.now();
    try {
      await client.query(sql.vacuumPace);
      this.vacuumPid = (client as unknown as { processID: number }).processID;
      if (this.stopping) return undefined;
      await client.query(text);
      return Math.round(performance.now() - started);
    } catch (error) {
      if (!this.stopping) throw error; // cancelled by stop(): not a failure
      return undefined;
    } finally {
      this.vacuumPid = undefined;
    }
  }
}
