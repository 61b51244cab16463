/**
 * Claims due jobs, never more than the pool can start, one claim statement
 * at a time. A claim that filled every free slot suggests more jobs are
 * waiting, so the next free slot claims again at once; a claim that came back
 * short means the queue is drained, and only a wake-up (notification or
 * poll) claims again. This keeps queries per job low under load and near zero
 * at rest. A claim that finds the queue drained also offers a free slot for
 * hand-off (see offer.ts), one statement at a time with the claims, unless
 * the gated claim (limited queues, concurrency keys) is running: that one
 * needs every free slot.
 *
 * A failed claim is retried by the same loop, after a backoff and, while
 * the database is down, after the heartbeat got through (see health.ts);
 * wake-ups meanwhile only mark that a claim is wanted.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import type { DatabaseHealth } from './health.js';
import { fromClaimRow, type ClaimedJob, type ClaimRow, type TimeoutFor } from './claimed-job.js';
import type { Offer } from './offer.js';

export interface ClaimerOptions {
  pool: pg.Pool;
  statement: Statement;
  /** The claim while the offer stands: it may take the offered slot back. */
  statementWithOffer: Statement;
  /** The gated claim: jobs of limited queues and with concurrency keys (see gates.ts). */
  gatedStatement: Statement;
  /** Whether the gated claim is needed. */
  gated: () => boolean;
  offer: Offer;
  supervisorId: string;
  /** Tasks this supervisor can run; no other job is claimed. */
  tasks: string[];
  /** Queues served; empty for every queue. */
  queues: string[];
  leaseMs: number;
  /** Timeout of a claimed job (its own, its task's, or `--job-timeout`). */
  timeoutFor: TimeoutFor;
  health: DatabaseHealth;
  /** Free job slots right now. */
  freeSlots: () => number;
  /** Receives the jobs of each claim. */
  onClaimed: (jobs: ClaimedJob[]) => void;
}

export class Claimer {
  private wanted = false;
  /** The claim loop is running (claiming, placing the offer, or waiting to retry). */
  private claiming = false;
  private stopped = false;
  private failures = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = 0;

  constructor(private readonly options: ClaimerOptions) {}

  /** Something may be due (a notification, the poll): claim when a slot is free. */
  wake(): void {
    this.wanted = true;
    void this.pump();
  }

  /** A slot was freed: claim again only if the last claim suggested more jobs wait (or offer the slot). */
  slotFreed(): void {
    if (this.wanted || this.options.offer.wanted) void this.pump();
  }

  /**
   * A job was handed to our offer. Another is placed when a slot frees,
   * not now: placing it now would compete for the CPU with the job's start.
   */
  handedOff(): void {
    this.options.offer.used();
  }

  /** Stops claiming; a claim in flight still delivers its jobs. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.wakeTimer);
  }

  private async pump(): Promise<void> {
    if (this.claiming || this.stopped) return;
    this.claiming = true;
    try {
      while (!this.stopped) {
        try {
          await this.claimWhileWanted();
          return;
        } catch (error) {
          this.wanted = true;
          await this.options.health.backOff(error, 'claim', this.failures++);
        }
      }
    } finally {
      this.claiming = false;
    }
  }

  /** Claims while jobs are wanted and slots are free, and offers a free slot when the queue looks drained. */
  private async claimWhileWanted(): Promise<void> {
    const { offer } = this.options;
    while (!this.stopped) {
      // The gated claim needs every free slot (with one, the offered one):
      // while it runs, no slot is offered for hand-off.
      const gated = this.options.gated();
      if (gated && offer.standing) await offer.withdraw();
      const free = this.options.freeSlots() - offer.reserved;
      if (this.wanted && (free > 0 || offer.standing)) {
        this.wanted = false;
        const limited = free > 0 && gated ? await this.claimGated(free) : [];
        if (limited.length > 0) this.options.onClaimed(limited);
        const jobs = limited.length < free || offer.standing ? await this.claim(free - limited.length) : [];
        this.failures = 0;
        if (jobs.length > 0) this.options.onClaimed(jobs);
        const claimed = jobs.length + limited.length;
        if (claimed > 0 && claimed >= free) this.wanted = true;
        else offer.wanted = true;
      } else if (!gated && offer.due(free)) {
        await offer.place();
      } else {
        return;
      }
    }
  }

  private async claim(limit: number): Promise<ClaimedJob[]> {
    const { pool, offer, tasks, supervisorId, leaseMs, queues } = this.options;
    const params: unknown[] = [tasks, limit, supervisorId, leaseMs];
    if (queues.length > 0) params.push(queues);
    const rows = offer.standing ? await this.claimWithOffer(params) : (await pool.query<ClaimRow>(this.options.statement, params)).rows;
    return rows.map((row) => fromClaimRow(row, this.options.timeoutFor));
  }

  /**
   * Claims jobs the plain claim leaves alone: of limited queues, and with
   * concurrency keys. A row with no job says when a rate-limited queue's
   * window lets the next job start: the claimer wakes then.
   */
  private async claimGated(limit: number): Promise<ClaimedJob[]> {
    const { pool, gatedStatement, tasks, supervisorId, leaseMs, queues, timeoutFor } = this.options;
    const { rows } = await pool.query<ClaimRow>(gatedStatement, [tasks, limit, supervisorId, leaseMs, queues]);
    const window = rows.find((row) => row.id === null);
    if (window) this.wakeIn(window.lag_s * 1000);
    return rows.filter((row) => row.id !== null).map((row) => ({ ...fromClaimRow(row, timeoutFor), gated: true }));
  }

  /** Wakes the claimer after `ms` (once: a sooner wake-up replaces a later one). */
  private wakeIn(ms: number): void {
    const at = Date.now() + Math.max(1, ms);
    if (this.wakeTimer && this.wakeAt <= at) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wake();
    }, at - Date.now());
    this.wakeTimer.unref();
  }

  /** The claim while our offer stands: it also says whether the offer still stands. */
  private async claimWithOffer(params: unknown[]): Promise<ClaimRow[]> {
    const { pool, offer, statementWithOffer } = this.options;
    const mark = offer.mark();
    const { rows } = await pool.query<ClaimRow & { offer_stands: boolean }>(statementWithOffer, params);
    offer.settle(mark, rows[0]?.offer_stands ?? false);
    return rows.filter((row) => row.id !== null);
  }
}
