/**
 * Cron: on the maintenance leader, adds the jobs of every schedule whose
 * tick has come. It wakes at the next tick of any schedule (at least once a
 * minute, and at once when a schedule changes), reads the schedules, and
 * for each adds one job per due tick in one statement that also moves the
 * schedule's last tick. The job key `cron:<name>:<tick>` makes each tick
 * one job even if two supervisors both believed they led for a moment.
 *
 * Ticks are computed on this supervisor's clock. A tick reached late (under
 * a minute) is still added; after a longer gap (no supervisor up), only the
 * `backfill` newest missed ticks are (see dueTicks).
 */
import type pg from 'pg';
import type { flowStatements } from '../db/sql/flow.js';
import { cronOf, dueTicks, nextTick } from '../queue/cron.js';
import { LeaderTask, type LeaderTaskOptions } from './leader-task.js';

export interface CronSchedulerOptions extends LeaderTaskOptions {
  pool: pg.Pool;
  sql: Pick<ReturnType<typeof flowStatements>, 'listSchedules' | 'fireSchedule'>;
  /** Called with the number of jobs added for a schedule's due ticks. */
  onFired?: (schedule: string, jobs: number) => void;
}

/** The longest the scheduler sleeps: a schedule added while a message was lost is seen within this. */
const MAX_SLEEP_MS = 60_000;

interface ScheduleRow {
  name: string;
  expression: string;
  timezone: string | null;
  backfill: number;
  last_tick: Date;
}

export class CronScheduler extends LeaderTask {
  private nextRunAt = 0;
  /** Schedules whose expression cannot be read, reported once each. */
  private readonly reported = new Set<string>();

  constructor(private readonly options: CronSchedulerOptions) {
    super('cron', MAX_SLEEP_MS, options);
  }

  /**
   * Until the next tick of any schedule, at most a minute. A run skipped
   * (not leading) computed none: winning the lead runs it at once.
   */
  protected override nextIntervalMs(): number {
    if (this.nextRunAt === 0) return MAX_SLEEP_MS;
    const ms = Math.max(0, this.nextRunAt - Date.now());
    this.nextRunAt = 0;
    return Math.min(MAX_SLEEP_MS, ms);
  }

  protected async run(): Promise<void> {
    const { pool, sql } = this.options;
    const { rows } = await pool.query<ScheduleRow>(sql.listSchedules);
    const now = new Date();
    let next = now.getTime() + MAX_SLEEP_MS;
    for (const row of rows) {
      const cron = this.read(row);
      if (!cron) continue;
      const ticks = dueTicks(cron, row.last_tick, now, row.backfill);
      if (ticks.length > 0) {
        const added = await pool.query(sql.fireSchedule, [row.name, ticks, row.last_tick]);
        this.options.onFired?.(row.name, added.rowCount ?? 0);
      }
      next = Math.min(next, nextTick(cron, now)?.getTime() ?? next);
    }
    this.nextRunAt = next;
  }

  private read(row: ScheduleRow): ReturnType<typeof cronOf> | undefined {
    try {
      return cronOf(row.expression, row.timezone);
    } catch (error) {
      if (!this.reported.has(row.name)) {
        this.reported.add(row.name);
        this.options.log.error({ schedule: row.name, err: error }, `schedule '${row.name}' adds no jobs: ${(error as Error).message}`);
      }
      return undefined;
    }
  }
}
