/**
 * The supervisor's Prometheus instruments (prefix `supervisor_`). Labels
 * stay low-cardinality: queue, task, outcome, never a job id or payload.
 * On the hot path a job costs a comparison with the previous job's labels,
 * not a label hash (see labelled.ts).
 */
import { hostname } from 'node:os';
import type pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FINISHED_STATUSES, type FinishedStatus } from '../db/sql/maintenance.js';
import { metricsStatements } from '../db/sql/metrics.js';
import { packageVersion } from '../paths.js';
import { ChildMemo, Tally } from './labelled.js';
import { UtilizationMeter } from './utilization.js';

/** Job run times: 5 ms up to 6 hours. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];
/** Time from run_at to claim: 1 ms up to a day. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];
/**
 * How long a queue-depth reading is reused: 5 s, or 50 times as long as the
 * count took, so that counting a huge backlog (a second for ten million
 * pending jobs) never takes more than 2% of the database's time per
 * supervisor, however often Prometheus scrapes.
 */
export function queueDepthReuseMs(countTookMs: number): number {
  return Math.max(5000, countTookMs * 50);
}

export type JobOutcomeLabel = 'success' | 'failure' | 'aborted' | 'snoozed';

/** What the gauges read when Prometheus scrapes. */
export interface MetricsSource {
  inFlight(): number;
  threads(): number;
  /** Whether this supervisor leads maintenance. */
  leads(): boolean;
  /** The pool for the queue-depth query; undefined while not connected. */
  pool(): pg.Pool | undefined;
}

export interface MetricsOptions {
  schema: string;
  threads: number;
  capacity: number;
  source: MetricsSource;
}

type Labels = { queue: string; task: string };

/** A row of the queue-depth statement (db/sql/metrics.ts). */
interface DepthRow {
  queue: string;
  job_status: string;
  count: number;
  without_runner: number;
}

export class SupervisorMetrics {
  readonly registry = new Registry();
  readonly utilization: UtilizationMeter;
  private readonly claimed = new Tally();
  private readonly written = { success: new Tally(), retried: new Tally(), failed: new Tally(), snoozed: new Tally() };
  private readonly recovered: Counter;
  private readonly stale: Counter;
  private readonly deleted: Counter<'status'>;
  private readonly duration: ChildMemo<Histogram.Internal<'queue' | 'task' | 'outcome'>>;
  private readonly lag: ChildMemo<Histogram.Internal<'queue' | 'task'>>;
  private depth: { until: number; rows: DepthRow[] } | undefined;

  constructor(options: MetricsOptions) {
    const registers = [this.registry];
    const counter = (name: string, help: string, tally: Tally) =>
      new Counter({ name, help, labelNames: ['queue', 'task'] as const, registers, collect() { tally.flushInto(this); } });
    counter('supervisor_jobs_claimed_total', 'Jobs claimed (each attempt counts once)', this.claimed);
    counter('supervisor_jobs_succeeded_total', 'Jobs that succeeded', this.written.success);
    counter('supervisor_jobs_retried_total', 'Failed attempts that will be retried', this.written.retried);
    counter('supervisor_jobs_failed_total', 'Jobs that failed their last attempt', this.written.failed);
    counter('supervisor_jobs_snoozed_total', 'Jobs whose handler asked to run again later (ctx.snooze), no attempt counted', this.written.snoozed);
    this.recovered = new Counter({ name: 'supervisor_leases_recovered_total', help: 'Jobs whose expired lease this supervisor recovered', registers });
    this.stale = new Counter({ name: 'supervisor_stale_completions_total', help: 'Job results refused because the job was no longer held (lease lost or cancelled)', registers });
    this.deleted = new Counter({
      name: 'supervisor_jobs_deleted_total',
      help: 'Finished jobs deleted by retention on this supervisor, by status (success, failed, cancelled)',
      labelNames: ['status'] as const,
      registers,
    });
    // Every status from the start, so that rate() has a series before the first deletion.
    for (const status of FINISHED_STATUSES) this.deleted.inc({ status }, 0);
    const duration = new Histogram({
      name: 'supervisor_job_duration_seconds',
      help: 'Run time of a job attempt in its thread, by outcome (success, failure, aborted)',
      labelNames: ['queue', 'task', 'outcome'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    });
    const lag = new Histogram({
      name: 'supervisor_job_lag_seconds',
      help: 'Time from a job being due (run_at) to its claim',
      labelNames: ['queue', 'task'] as const,
      buckets: LAG_BUCKETS,
      registers,
    });
    this.duration = new ChildMemo((queue, task, outcome) => duration.labels(queue, task, outcome));
    this.lag = new ChildMemo((queue, task) => lag.labels(queue, task));
    this.utilization = new UtilizationMeter(options.capacity);
    this.gauges(options);
    collectDefaultMetrics({ register: this.registry });
  }

  private gauges({ schema, threads, source }: MetricsOptions): void {
    const registers = [this.registry];
    new Gauge({ name: 'supervisor_jobs_in_flight', help: 'Jobs claimed and not yet finished', registers, collect() { this.set(source.inFlight()); } });
    new Gauge({ name: 'supervisor_pool_threads', help: 'Worker threads alive', registers, collect() { this.set(source.threads()); } });
    new Gauge({
      name: 'supervisor_leader',
      help: 'Whether this supervisor leads maintenance (lease recovery, retention, vacuum, cron) for its schema: 1 or 0',
      registers,
      collect() { this.set(source.leads() ? 1 : 0); },
    });
    const utilization = this.utilization;
    new Gauge({
      name: 'supervisor_pool_utilization',
      help: 'Share of job slots (threads × concurrency) busy since the previous scrape, 0 to 1',
      registers,
      collect() { this.set(utilization.read()); },
    });
    new Gauge({ name: 'supervisor_info', help: 'Always 1; labels describe the supervisor', labelNames: ['version', 'host', 'threads'] as const, registers })
      .set({ version: packageVersion, host: hostname(), threads: String(threads) }, 1);
    const sql = metricsStatements(schema);
    const read = () => this.queueDepth(source, sql.queueDepth);
    new Gauge({
      name: 'supervisor_queue_jobs',
      help: 'Jobs in the database by queue and status (pending, running, failed), read at most every 5 s (less often when counting is slow)',
      labelNames: ['queue', 'status'] as const,
      registers,
      async collect() {
        const rows = await read();
        this.reset();
        for (const row of rows) this.set({ queue: row.queue, status: row.job_status }, row.count);
      },
    });
    new Gauge({
      name: 'supervisor_queue_jobs_without_runner',
      help: 'Pending jobs whose task no live supervisor runs (a typo, or a task module not deployed), read with supervisor_queue_jobs',
      labelNames: ['queue'] as const,
      registers,
      async collect() {
        const rows = await read();
        this.reset();
        for (const row of rows) if (row.job_status === 'pending') this.set({ queue: row.queue }, row.without_runner);
      },
    });
  }

  private async queueDepth(source: MetricsSource, statement: { name: string; text: string }) {
    const pool = source.pool();
    if (!pool) return [];
    if (!this.depth || Date.now() > this.depth.until) {
      try {
        const started = Date.now();
        const { rows } = await pool.query<DepthRow>(statement);
        this.depth = { until: Date.now() + queueDepthReuseMs(Date.now() - started), rows };
      } catch {
        // The database is away: /metrics still answers, with the last reading
        // (or none), and /readyz reports the outage.
        return this.depth?.rows ?? [];
      }
    }
    return this.depth.rows;
  }

  jobClaimed({ queue, task }: Labels, lagSeconds: number): void {
    this.claimed.add(queue, task);
    this.lag.get(queue, task).observe(Math.max(0, lagSeconds));
  }

  jobRan({ queue, task }: Labels, outcome: JobOutcomeLabel, seconds: number): void {
    this.duration.get(queue, task, outcome).observe(seconds);
  }

  jobWritten({ queue, task }: Labels, written: 'success' | 'retried' | 'failed' | 'snoozed'): void {
    this.written[written].add(queue, task);
  }

  staleCompletion(): void {
    this.stale.inc();
  }

  leasesRecovered(count: number): void {
    this.recovered.inc(count);
  }

  jobsDeleted(status: FinishedStatus, count: number): void {
    this.deleted.inc({ status }, count);
  }
}
