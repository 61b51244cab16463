/**
 * Time-weighted pool utilization: the share of job slots (threads ×
 * concurrency) that were busy since the previous reading. A snapshot of
 * "jobs running now" would flicker between 0 and full under short jobs.
 */
export class UtilizationMeter {
  private busy = 0;
  private since = performance.now();
  private integral = 0;
  private readAt = this.since;

  constructor(private readonly capacity: number) {}

  /** The number of busy slots changed to `busy`. */
  set(busy: number): void {
    const now = performance.now();
    this.integral += this.busy * (now - this.since);
    this.busy = busy;
    this.since = now;
  }

  /** Busy share of capacity since the last call, from 0 to 1. */
  read(): number {
    this.set(this.busy);
    const elapsed = this.since - this.readAt;
    const share = elapsed > 0 ? this.integral / (elapsed * this.capacity) : 0;
    this.integral = 0;
    this.readAt = this.since;
    return Math.min(1, share);
  }
}
