/**
 * A background service that runs a task every `intervalMs`: never two runs
 * at once, a failed run logged and retried at the next tick.
 */
import type { Logger } from '../log.js';

export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly task: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.runOnce(), this.intervalMs);
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs the task now unless a run is in progress. */
  runOnce(): Promise<void> {
    this.running ??= this.task()
      .catch((error: unknown) => this.log.warn({ err: error }, `${this.name} failed; will retry`))
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
