/**
 * The shape of every maintenance service (lease recovery, retention,
 * vacuum): a task run every `intervalMs` on the maintenance leader only,
 * skipped while the database is down (the heartbeat renews this
 * supervisor's leases first), and run at once when this supervisor wins
 * the lead.
 */
import type { Logger } from '../log.js';
import type { DatabaseHealth } from './health.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

export interface LeaderTaskOptions {
  /** Whether this supervisor leads maintenance. */
  leads: () => boolean;
  health: DatabaseHealth;
  log: Logger;
}

export abstract class LeaderTask implements Service {
  private readonly periodic: Periodic;
  /** Set when stop() is called: a long run checks it to end early. */
  protected stopping = false;

  constructor(
    readonly name: string,
    private readonly fixedIntervalMs: number,
    { leads, health, log }: LeaderTaskOptions,
  ) {
    this.periodic = new Periodic({ name, intervalMs: () => this.nextIntervalMs(), task: () => (health.isDown || !leads() ? Promise.resolve() : this.run()), health, log });
  }

  /** Time to the next run: the fixed interval, unless a task knows better. */
  protected nextIntervalMs(): number {
    return this.fixedIntervalMs;
  }

  /** One run of the task. */
  protected abstract run(): Promise<void>;

  start(): void {
    this.periodic.start();
  }

  /** Stops the timer and waits for a run in progress. */
  stop(): Promise<void> {
    this.stopping = true;
    return this.periodic.stop();
  }

  /** Runs soon (this supervisor has just won the lead). */
  runSoon(): void {
    this.periodic.runSoon();
  }
}
