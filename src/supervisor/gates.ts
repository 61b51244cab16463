/**
 * Whether this supervisor needs the gated claim (claim_gated in
 * migrations/007_flow_control.sql): a queue it serves has a concurrency or
 * rate limit, or jobs with a concurrency key wait. Without either, the
 * claim path is the plain one and pays nothing for flow control.
 *
 * Read at start and on every control message about queue settings; a
 * message that a job with a key became claimable (a trigger sends it,
 * whoever added, retried or recovered the job) turns the gated claim on at
 * once. Re-read every 30 s, which turns it off once no keyed job waits, and
 * catches a message lost while the LISTEN connection was down.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import type { Logger } from '../log.js';
import type { DatabaseHealth } from './health.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

export interface GatesOptions {
  pool: pg.Pool;
  statement: Statement;
  /** Queues served; empty for every queue. */
  queues: string[];
  health: DatabaseHealth;
  log: Logger;
  /** Called after each reading: the claimer may have work it did not know of. */
  onChange: () => void;
}

/** How often the gates are read without a control message. */
export const GATES_REFRESH_MS = 30_000;

export class Gates implements Service {
  readonly name = 'gates';
  private limited = false;
  private keyed = false;
  private readonly periodic: Periodic;

  constructor(private readonly options: GatesOptions) {
    this.periodic = new Periodic({
      name: 'reading queue limits',
      intervalMs: GATES_REFRESH_MS,
      task: async () => {
        await this.read();
        this.options.onChange();
      },
      health: options.health,
      log: options.log,
    });
  }

  /** Whether the gated claim should run beside the plain one. */
  get active(): boolean {
    return this.limited || this.keyed;
  }

  /** Reads the gates once (the job flow starts claiming after), then keeps them current. */
  async start(): Promise<void> {
    await this.read();
    this.periodic.start();
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /** Something changed (a control message): read again now. */
  refresh(): void {
    this.periodic.runSoon();
  }

  /** A job with a key became claimable: the gated claim runs from now on, until a reading finds none waiting. */
  keyedJobAdded(): void {
    this.keyed = true;
  }

  private async read(): Promise<void> {
    const { rows } = await this.options.pool.query<{ limited: boolean; keyed: boolean }>(this.options.statement, [this.options.queues]);
    this.limited = rows[0]!.limited;
    this.keyed = rows[0]!.keyed;
  }
}
