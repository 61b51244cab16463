/**
 * Whether the database answers, one record for every loop of the
 * supervisor. The first connection failure logs one warning and wakes the
 * heartbeat, which then probes with a short backoff; only the heartbeat
 * declares the database back, after it has renewed this supervisor's
 * leases, with one info line. Until then the other loops (claims,
 * completions, recovery) wait instead of retrying on their own: one loop
 * probes, the lease renewal goes first, and an outage logs two lines,
 * however long it lasts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isConnectionError } from '../db/connect.js';
import type { Logger } from '../log.js';
import { reconnectDelayMs } from './backoff.js';

export class DatabaseHealth {
  private downSince: number | undefined;
  private lastError: Error | undefined;
  private waiters: (() => void)[] = [];
  private onDown: (() => void) | undefined;

  constructor(private readonly log: Logger) {}

  /** Whether a connection failure was seen and the heartbeat has not yet got through. */
  get isDown(): boolean {
    return this.downSince !== undefined;
  }

  /** Undefined while healthy, else why not (served on /readyz). */
  get problem(): string | undefined {
    return this.lastError && `database unreachable: ${this.lastError.message}`;
  }

  /** Sets what to do when the database goes away (the heartbeat starts probing). */
  whenLost(listener: () => void): void {
    this.onDown = listener;
  }

  /** Records a failed statement of `what` (claim, heartbeat, …): a connection failure marks the database down. */
  failed(error: unknown, what: string): void {
    const err = error instanceof Error ? error : new Error(String(error));
    if (!isConnectionError(err)) {
      this.log.warn({ err, what }, `${what} failed; will retry`);
      return;
    }
    this.lastError = err;
    if (this.downSince !== undefined) {
      this.log.debug({ what, error: err.message }, 'database still unreachable');
      return;
    }
    this.downSince = Date.now();
    this.log.warn(
      { what, error: err.message },
      `lost the database (${err.message}); retrying with backoff up to 5 s, running jobs go on and their outcomes are kept`,
    );
    this.onDown?.();
  }

  /** The heartbeat got through: the database is back (logged once per outage). */
  up(): void {
    this.lastError = undefined;
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.log.info({ downMs }, `the database answers again (after ${(downMs / 1000).toFixed(1)} s); leases renewed`);
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** Resolves at once while the database is up, else when it is back. */
  whenUp(): Promise<void> {
    if (this.downSince === undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * After a failed statement: records it, waits the backoff for the
   * `failures`-th consecutive failure, then, while the database is down,
   * until the heartbeat got through.
   */
  async backOff(error: unknown, what: string, failures: number): Promise<void> {
    this.failed(error, what);
    await sleep(reconnectDelayMs(failures), undefined, { ref: false });
    await this.whenUp();
  }
}
