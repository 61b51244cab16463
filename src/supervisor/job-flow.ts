/**
 * The path of a job through a supervisor, top to bottom:
 *
 * 1. claimed by the Claimer (or handed to this supervisor's offer by a
 *    producer), and recorded in the Holdings;
 * 2. dispatched to the threads in batches;
 * 3. run, and its result settled when its batch returns;
 * 4. written back by the Completer, fenced on holder and attempt, and then
 *    no longer held.
 *
 * Lease recovery (of other supervisors' jobs) only wakes the claimer here.
 * As a service, starting the flow starts claiming; stopping it is the
 * graceful part of a shutdown: no new claims, unstarted jobs handed back,
 * running jobs given `shutdownTimeout`, every outcome written.
 */
import type { Logger } from '../log.js';
import type { SupervisorMetrics, JobOutcomeLabel } from '../metrics/metrics.js';
import { Batch, type JobResult } from '../worker/batch.js';
import type { WorkerPool } from '../worker/pool.js';
import { AbortReason } from '../worker/progress.js';
import { fromClaimRow, type ClaimedJob, type ClaimRow, type TimeoutFor } from './claimed-job.js';
import type { Claimer } from './claimer.js';
import type { Completer, Written } from './completer.js';
import type { Holdings } from './holdings.js';
import type { JobEvents } from './job-events.js';
import { JobTracing } from './job-tracing.js';
import type { Offer } from './offer.js';
import type { RecoveredJob } from './recovery.js';
import type { Service } from './service.js';
import { ABORT_GRACE_MS } from './stop-watchdog.js';

/** Jobs by what became of them since start. */
export interface SupervisorStats {
  claimed: number;
  succeeded: number;
  /** Failed attempts that will be retried. */
  retried: number;
  /** Jobs that used their last attempt. */
  failed: number;
  /** Jobs aborted by a shutdown and put back (attempt counted). */
  requeued: number;
  /** Jobs handed back unstarted, or killed with a thread through no fault of their own (attempt not counted). */
  released: number;
  /** Jobs whose handler asked to run again later (ctx.snooze); no attempt counted. */
  snoozed: number;
  /** Results the fence refused: the job was no longer this supervisor's. */
  stale: number;
  /** Expired leases this supervisor recovered (from any supervisor). */
  recovered: number;
  /** Jobs a producer handed straight to this supervisor's offer (also counted in `claimed`). */
  handedOff: number;
}

/** Stats with every count at zero. */
export function noStats(): SupervisorStats {
  return { claimed: 0, succeeded: 0, retried: 0, failed: 0, requeued: 0, released: 0, snoozed: 0, stale: 0, recovered: 0, handedOff: 0 };
}

export interface JobFlowParts {
  claimer: Claimer;
  offer: Offer;
  completer: Completer;
  pool: WorkerPool;
  holdings: Holdings;
  metrics: SupervisorMetrics;
  events: JobEvents;
  log: Logger;
  threads: number;
  concurrency: number;
  timeoutFor: TimeoutFor;
  shutdownTimeoutMs: number;
  /** Resolves once every notification sent so far has arrived (a hand-off racing the offer's withdrawal). */
  syncNotifications: () => Promise<void>;
}

/** Most jobs in one piscina task: past this, a batch only delays its first results. */
const MAX_BATCH = 64;

export class JobFlow implements Service {
  readonly name = 'job flow';
  readonly stats: SupervisorStats = noStats();
  private stopping = false;
  private idle: (() => void) | undefined;
  private readonly tracing = new JobTracing();

  constructor(private readonly parts: JobFlowParts) {}

  /** Job slots not taken by a job right now. */
  get freeSlots(): number {
    return this.parts.threads * this.parts.concurrency - this.parts.holdings.inFlight;
  }

  /** Starts claiming. */
  start(): void {
    this.parts.claimer.wake();
  }

  /** 1. A claim brought jobs (called by the Claimer). */
  claimed(jobs: ClaimedJob[]): void {
    this.dispatch(jobs);
  }

  /**
   * 1'. A job a producer handed to our offer: it is ours already (attempt
   * 1, leased). Run it in the slot the offer kept, or hand it back if there
   * is none (stopping, or an offer we had given up for lost).
   */
  handedOff(message: string): void {
    let job: ClaimedJob;
    try {
      job = fromClaimRow(JSON.parse(message) as ClaimRow, this.parts.timeoutFor);
    } catch (error) {
      this.parts.log.error({ err: error, message: message.slice(0, 200) }, 'ignored a malformed message on this supervisor\'s offer channel');
      return;
    }
    this.stats.handedOff++;
    if (this.stopping || this.freeSlots <= 0) this.parts.completer.add(job, { kind: 'release' });
    else this.dispatch([job]);
    this.parts.claimer.handedOff();
  }

  /**
   * 2. Sends jobs to the threads in batches spread over the threads. A
   * batch holds at most half a thread's concurrency, so a thread holds at
   * least two batches and each frees its slots (and lets the next claim
   * start) while the other still runs.
   */
  private dispatch(jobs: ClaimedJob[]): void {
    const { holdings, metrics, threads, concurrency } = this.parts;
    this.stats.claimed += jobs.length;
    for (const job of jobs) metrics.jobClaimed(job, job.lagSeconds);
    this.parts.events.started(jobs);
    const size = Math.min(MAX_BATCH, Math.ceil(jobs.length / threads), Math.ceil(concurrency / 2));
    for (let start = 0; start < jobs.length; start += size) {
      const batch = new Batch(jobs.slice(start, start + size));
      holdings.add(batch);
      void this.run(batch);
    }
    this.tracing.started(jobs, holdings);
    metrics.utilization.set(holdings.inFlight);
  }

  /** 3. Runs a batch on a thread, and queues each job's result for writing. */
  private async run(batch: Batch<ClaimedJob>): Promise<void> {
    const { pool, completer, claimer, holdings, metrics } = this.parts;
    const results = await pool.run(batch);
    const now = Date.now();
    for (const [index, result] of results) {
      const job = batch.jobs[index]!;
      if (result.kind !== 'release') metrics.jobRan(job, RAN[result.kind], batch.progress.ranFor(index, now) / 1000);
      completer.add(job, result);
    }
    holdings.returned(batch);
    metrics.utilization.set(holdings.inFlight);
    if (holdings.inFlight === 0) this.idle?.();
    claimer.slotFreed();
  }

  /** 4. A job's result was written (or refused by the fence): it is no longer ours. */
  written(job: ClaimedJob, written: Written, result: JobResult): void {
    const held = this.parts.holdings.of(job);
    if (held) this.parts.events.ended(job, written, held.batch.progress.ranFor(held.index, Date.now()), result as { error?: string; result?: string });
    this.tracing.ended(held, written, 'error' in result ? result.error : undefined);
    this.parts.holdings.remove(job);
    // Its queue's or key's slot is free in the whole cluster now: another may start.
    if (job.gated) this.parts.claimer.wake();
    this.stats[COUNTERS[written]]++;
    if (written === 'success' || written === 'retried' || written === 'failed' || written === 'snoozed') this.parts.metrics.jobWritten(job, written);
    else if (written === 'stale') this.parts.metrics.staleCompletion();
    if (written === 'failed' || written === 'retried') this.logFailure(job, written, result);
  }

  /**
   * A job that is out of attempts needs a person: one warn line. A retry
   * usually does not, and a line per retry would let logging limit
   * throughput: debug.
   */
  private logFailure(job: ClaimedJob, written: 'failed' | 'retried', result: JobResult): void {
    const error = 'error' in result ? result.error.split('\n', 1)[0]! : undefined;
    const fields = { jobId: job.id, task: job.task, queue: job.queue, attempts: job.attempt, error };
    if (written === 'failed') this.parts.log.warn(fields, `job ${job.id} (${job.task}) failed after ${job.attempt} attempt(s): ${error}`);
    else this.parts.log.debug(fields, 'job attempt failed; it will be retried');
  }

  /**
   * Jobs were cancelled (a control message). One of ours that has not
   * started is handed back; one that runs has its signal aborted now, and
   * its thread is terminated if it has not returned within the grace
   * period (see stop-watchdog.ts). Its outcome is refused by the fence.
   */
  cancelled(ids: readonly string[]): void {
    const { holdings, completer, log } = this.parts;
    for (const id of ids) {
      const held = holdings.get(id);
      if (!held || held.cancelledAt !== undefined) continue;
      held.cancelledAt = Date.now();
      if (held.batch.release(held.index)) {
        completer.add(held.job, { kind: 'release' });
        continue;
      }
      held.batch.progress.requestAbort(held.index, AbortReason.Cancelled);
      log.info({ jobId: id, task: held.job.task }, `job ${id} (${held.job.task}) was cancelled: aborting its signal`);
    }
  }

  /** Whether a cancel for this job reached us while we hold it (its outcome is refused, as expected). */
  wasCancelled(job: ClaimedJob): boolean {
    return this.parts.holdings.of(job)?.cancelledAt !== undefined;
  }

  /** Lease recovery returned other supervisors' jobs to pending: claim them. */
  recovered(jobs: RecoveredJob[]): void {
    this.stats.recovered += jobs.length;
    this.parts.metrics.leasesRecovered(jobs.length);
    this.parts.claimer.wake();
  }

  /**
   * Stops gracefully: no new claims; jobs claimed but not started are handed
   * back at once (attempt not counted); running jobs get `shutdownTimeout`
   * to finish, then their signals are aborted and, after a grace period,
   * their threads terminated and the jobs put back (attempt counted); every
   * result is written.
   */
  async stop(): Promise<void> {
    const { claimer, offer, completer, pool, holdings, log, shutdownTimeoutMs } = this.parts;
    this.stopping = true;
    log.info({ inFlight: holdings.inFlight, timeoutMs: shutdownTimeoutMs }, 'shutting down: no new claims');
    claimer.stop();
    // Jobs handed off before the offer is gone arrive by the sync, and are handed back.
    await offer.withdraw().catch((error: unknown) => log.warn({ err: error }, 'could not withdraw the offer; the supervisor row takes it along'));
    await this.parts.syncNotifications();
    this.releaseUnstarted();
    if (!(await this.waitForIdle(shutdownTimeoutMs))) {
      log.warn({ running: holdings.inFlight }, 'shutdown timeout: aborting running jobs');
      for (const { batch, index } of holdings.values()) batch.progress.requestAbort(index, AbortReason.Shutdown);
      if (!(await this.waitForIdle(ABORT_GRACE_MS))) {
        pool.terminateBusy();
        await this.waitForIdle(10_000);
      }
    }
    await completer.drain();
  }

  /** Hands back every held job that has not started, so another supervisor can run it now. */
  private releaseUnstarted(): void {
    let released = 0;
    for (const { job, batch, index } of this.parts.holdings.values()) {
      if (batch.release(index)) {
        this.parts.completer.add(job, { kind: 'release' });
        released++;
      }
    }
    if (released > 0) this.parts.log.info({ released }, 'handed back claimed jobs that had not started');
  }

  private waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.parts.holdings.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

const RAN: Record<Exclude<JobResult['kind'], 'release'>, JobOutcomeLabel> = {
  success: 'success',
  error: 'failure',
  requeue: 'aborted',
  snooze: 'snoozed',
};

const COUNTERS: Record<Written, keyof SupervisorStats> = {
  success: 'succeeded',
  retried: 'retried',
  failed: 'failed',
  requeued: 'requeued',
  released: 'released',
  snoozed: 'snoozed',
  stale: 'stale',
};
