/**
 * The one record of the jobs this supervisor holds: claimed and not yet
 * written back. The heartbeat extends exactly these leases, shutdown
 * releases the unstarted ones, the stop watchdog watches the running
 * ones, and the jobs still on a thread are the slots in use.
 */
import type { Span } from '@opentelemetry/api';
import type { Batch } from '../worker/batch.js';
import type { ClaimedJob } from './claimed-job.js';

export interface Held {
  job: ClaimedJob;
  batch: Batch<ClaimedJob>;
  index: number;
  /** When a cancel reached this supervisor (epoch ms); the stop watchdog acts on it only while the job runs. */
  cancelledAt?: number;
  /** Its OpenTelemetry span, when one is recording (see job-tracing.ts). */
  span?: Span;
}

export class Holdings {
  private readonly held = new Map<string, Held>();
  private onThreads = 0;

  /** Jobs sent to a thread whose results are not known yet: the slots in use. */
  get inFlight(): number {
    return this.onThreads;
  }

  /** A batch is sent to a thread. */
  add(batch: Batch<ClaimedJob>): void {
    batch.jobs.forEach((job, index) => this.held.set(job.id, { job, batch, index }));
    this.onThreads += batch.jobs.length;
  }

  /** A batch came back from its thread: its slots are free, its results not yet written. */
  returned(batch: Batch<ClaimedJob>): void {
    this.onThreads -= batch.jobs.length;
  }

  /**
   * The job's result was written (or refused), or it will never run: this
   * claim of it is no longer ours. A later claim of the same job is kept: a
   * job handed back (its thread died before it started) can be claimed
   * again before the hand-back's write reports, and dropping that claim
   * would leave it running unwatched (no timeout, no heartbeat).
   */
  remove(job: ClaimedJob): void {
    if (this.of(job)) this.held.delete(job.id);
  }

  /** Jobs held: claimed, and their outcome not yet written. */
  get size(): number {
    return this.held.size;
  }

  /** The job with this id, in whichever claim of it we hold now. */
  get(jobId: string): Held | undefined {
    return this.held.get(jobId);
  }

  /** This very claim of a job, if we still hold it (not a later claim of the same job). */
  of(job: ClaimedJob): Held | undefined {
    const held = this.held.get(job.id);
    return held?.job === job ? held : undefined;
  }

  /** Ids and attempts of every held job, for the heartbeat. */
  leases(): { ids: string[]; attempts: number[] } {
    const ids: string[] = [];
    const attempts: number[] = [];
    for (const { job } of this.held.values()) {
      ids.push(job.id);
      attempts.push(job.attempt);
    }
    return { ids, attempts };
  }

  values(): IterableIterator<Held> {
    return this.held.values();
  }
}
