/**
 * A background service that runs a task every `intervalMs`, never two runs
 * at once. A failed run is reported to the database health (a connection
 * failure) or logged, and tried again after `retryDelayMs(failures)` (the
 * interval unless given).
 */
import type { Logger } from '../log.js';
import type { DatabaseHealth } from './health.js';

export interface PeriodicOptions {
  /** What the task does, for logs: `heartbeat`, `lease recovery`. */
  name: string;
  /** Time between runs; a function is asked again after every run. */
  intervalMs: number | (() => number);
  task: () => Promise<void>;
  health: DatabaseHealth;
  log: Logger;
  /** Delay before trying again after the `failures`-th failure in a row. */
  retryDelayMs?: (failures: number) => number;
}

export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  private failures = 0;

  constructor(private readonly options: PeriodicOptions) {}

  start(): void {
    this.started = true;
    this.schedule(this.interval());
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs the task now (or right after the run in progress), then keeps the schedule from there. */
  runSoon(): void {
    if (!this.started) return;
    if (this.running) void this.running.then(() => this.runSoon());
    else this.schedule(0);
  }

  /** Runs the task once now unless a run is in progress; resolves when it is done. */
  runOnce(): Promise<void> {
    this.running ??= this.options
      .task()
      .then(
        () => {
          this.failures = 0;
          return this.interval();
        },
        (error: unknown) => {
          this.options.health.failed(error, this.options.name);
          return this.options.retryDelayMs?.(this.failures++) ?? this.interval();
        },
      )
      .then((next) => {
        this.running = undefined;
        this.schedule(next);
      });
    return this.running;
  }

  private interval(): number {
    const { intervalMs } = this.options;
    return typeof intervalMs === 'number' ? intervalMs : intervalMs();
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (this.started) this.timer = setTimeout(() => void this.runOnce(), delayMs);
  }
}
