/**
 * Stores what handlers report with ctx.progress(). Threads post reports on
 * a BroadcastChannel of this supervisor's own; the latest report of each
 * job waits here and all of them are written in one statement at most
 * once a second, so progress costs nothing while no handler reports and
 * one statement a second however many do. This shows progress while a job
 * runs; its last report goes with its outcome (complete-jobs).
 */
import { BroadcastChannel } from 'node:worker_threads';
import type pg from 'pg';
import type { Statement } from '../db/sql/statement.js';
import type { Logger } from '../log.js';
import type { ProgressReport } from '../worker/protocol.js';
import type { DatabaseHealth } from './health.js';
import { Periodic } from './periodic.js';
import type { Service } from './service.js';

/** How often waiting reports are written. */
export const PROGRESS_WRITE_MS = 1000;

export interface ProgressWriterOptions {
  /** The write connection (Database.writePool): the statement joins a batch of ids. */
  pool: pg.Pool;
  statement: Statement;
  /** The BroadcastChannel the threads post on (ThreadData.progressChannel). */
  channel: string;
  health: DatabaseHealth;
  log: Logger;
}

export class ProgressWriter implements Service {
  readonly name = 'progress writer';
  private readonly unwritten = new Map<string, ProgressReport>();
  private readonly periodic: Periodic;
  private channel: BroadcastChannel | undefined;

  constructor(private readonly options: ProgressWriterOptions) {
    this.periodic = new Periodic({ name: 'progress writer', intervalMs: PROGRESS_WRITE_MS, task: () => this.write(), health: options.health, log: options.log });
  }

  start(): void {
    this.channel = new BroadcastChannel(this.options.channel);
    this.channel.unref();
    this.channel.onmessage = (event) => {
      const report = (event as { data: ProgressReport }).data;
      this.unwritten.set(report.id, report);
    };
    this.periodic.start();
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
    this.channel?.close();
    await this.write().catch((error: unknown) => this.options.log.warn({ err: error }, 'could not write the last progress reports'));
  }

  /** Writes every waiting report in one statement. A failed write keeps them for the next, unless newer ones came. */
  private async write(): Promise<void> {
    if (this.unwritten.size === 0) return;
    const reports = [...this.unwritten.values()];
    this.unwritten.clear();
    try {
      await this.options.pool.query(this.options.statement, [reports.map((r) => r.id), reports.map((r) => r.attempt), reports.map((r) => r.value)]);
    } catch (error) {
      for (const report of reports) if (!this.unwritten.has(report.id)) this.unwritten.set(report.id, report);
      throw error;
    }
  }
}
