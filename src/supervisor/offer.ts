/**
 * This supervisor's offer of one free slot (migrations/003_hand_off.sql).
 * While it stands, `Queue.add` claims a new due job for us in the producer's
 * own statement and sends it on our channel, so the job starts without a
 * claim round trip. The Claimer places the offer when a claim finds the
 * queue drained, and its claims may take the offered slot back when jobs
 * wait. The slot stays reserved while the offer stands, so the supervisor
 * never holds more jobs than it can run.
 */
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';

export interface OfferOptions {
  pool: pg.Pool;
  place: Statement;
  withdraw: Statement;
  supervisorId: string;
  /** The channel handed-off jobs arrive on. */
  channel: string;
  leaseMs: number;
  /** False while nothing listens on the channel: a job handed off then would wait for its lease to expire. */
  canOffer: () => boolean;
}

export class Offer {
  /** Whether our offer row exists (or a producer is taking it): its slot is reserved. */
  standing = false;
  /** Set when the queue looked drained, so a free slot should be offered. */
  wanted = false;
  /** Counts hand-offs and withdrawals, so a statement racing one does not revive a gone offer. */
  private changes = 0;

  constructor(private readonly options: OfferOptions) {}

  /** Slots the offer keeps from claims. */
  get reserved(): number {
    return this.standing ? 1 : 0;
  }

  /** Whether to place the offer now, given the slots free besides it. */
  due(free: number): boolean {
    return this.wanted && !this.standing && free > 0 && this.options.canOffer();
  }

  async place(): Promise<void> {
    const { pool, place, supervisorId, channel, leaseMs } = this.options;
    this.wanted = false;
    const seen = this.changes;
    await pool.query(place, [supervisorId, channel, leaseMs]);
    // A producer may already have taken it, and its job arrived first.
    this.standing = this.changes === seen;
  }

  /** Marks the start of a claim; pass the mark to {@link settle} with what the claim said. */
  mark(): number {
    return this.changes;
  }

  /** Records whether the offer stands after a claim that could take its slot. */
  settle(mark: number, stands: boolean): void {
    this.standing = stands && this.changes === mark;
  }

  /** A job arrived on our channel: the offer is used up, and another may be placed. */
  used(): void {
    this.changes++;
    this.standing = false;
    this.wanted = true;
  }

  /** Takes the offer back (shutdown, or nothing listens on the channel any more). */
  async withdraw(): Promise<void> {
    this.wanted = false;
    this.changes++;
    this.standing = false;
    await this.options.pool.query(this.options.withdraw, [this.options.supervisorId]);
  }
}
