/**
 * The supervisor's lifecycle: start (database, migrations, worker pool,
 * registration, wake-ups), the job flow (Claimer → WorkerPool → Completer)
 * and graceful stop.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connectionOptions, resolveOptions, runOptions, type RunConfig } from '../config.js';
import { openDatabase, type Database } from '../db/connect.js';
import { isMigrated, migrate } from '../db/migrate.js';
import { supervisorStatements } from '../db/sql/supervisor.js';
import { createLogger, type Logger } from '../log.js';
import { WorkerPool } from '../worker/pool.js';
import { resolveTasksPath } from '../worker/tasks.js';
import type { ClaimedJob } from './claimed-job.js';
import { Claimer } from './claimer.js';
import { Completer, type Written } from './completer.js';
import { Wakeup } from './wakeup.js';

/**
 * Options of {@link startSupervisor}: the same as the CLI's (see the README),
 * in camelCase. Durations take milliseconds or strings such as `'30s'`.
 * Anything left out comes from its environment variable, then its default.
 */
export interface SupervisorOptions {
  /** PostgreSQL URL; without it (and without DATABASE_URL) an embedded PostgreSQL is used. */
  connectionString?: string;
  schema?: string;
  /** Path of the task module (file or directory). Required. */
  tasks?: string;
  threads?: number;
  concurrency?: number;
  queues?: string[] | string;
  pollInterval?: number | string;
  lease?: number | string;
  shutdownTimeout?: number | string;
  migrate?: boolean;
  logLevel?: RunConfig['logLevel'];
  logFormat?: RunConfig['logFormat'];
  /** A pino logger to use instead of creating one from logLevel and logFormat. */
  logger?: Logger;
}

/** Jobs by what became of them since start. */
export interface SupervisorStats {
  claimed: number;
  succeeded: number;
  retried: number;
  failed: number;
  /** Outcomes the fence refused: the job was no longer this supervisor's. */
  stale: number;
}

/** Most jobs in one piscina task (see shared/notes/piscina-dispatch.md). */
const MAX_BATCH = 32;

/** Starts a supervisor; resolves once it is claiming jobs. */
export async function startSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const { connectionString, logger, queues, ...rest } = options;
  const given = { ...rest, databaseUrl: connectionString, queues: Array.isArray(queues) ? queues.join(',') : queues };
  const config = resolveOptions({ ...connectionOptions, ...runOptions }, given);
  const log = logger ?? createLogger(config);
  const supervisor = new Supervisor(config, log);
  await supervisor.start();
  return supervisor;
}

/** A running supervisor. Create it with {@link startSupervisor}. */
export class Supervisor {
  /** This process's id in the `supervisors` table and in `locked_by`. */
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly stats: SupervisorStats = { claimed: 0, succeeded: 0, retried: 0, failed: 0, stale: 0 };
  private db: Database | undefined;
  private pool: WorkerPool | undefined;
  private claimer: Claimer | undefined;
  private completer: Completer | undefined;
  private wakeup: Wakeup | undefined;
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly sql: ReturnType<typeof supervisorStatements>;

  /** @internal use {@link startSupervisor} */
  constructor(
    readonly config: RunConfig,
    readonly log: Logger,
  ) {
    this.sql = supervisorStatements(config.schema, config.queues);
  }

  /** Jobs this supervisor can run at once: threads × concurrency. */
  get capacity(): number {
    return this.config.threads * this.config.concurrency;
  }

  /** @internal */
  async start(): Promise<void> {
    const { config, log } = this;
    const tasksPath = await resolveTasksPath(config.tasks);
    this.db = await openDatabase({ databaseUrl: config.databaseUrl, maxConnections: 4 }, log);
    try {
      await this.prepareSchema(this.db);
      this.pool = new WorkerPool({ ...config, tasksPath }, log);
      const tasks = await this.pool.describeTasks();
      await this.db.pool.query(this.sql.register, [
        this.id, hostname(), process.pid, config.threads, config.concurrency, config.queues, tasks,
      ]);
      this.startJobFlow(this.db, tasks);
      await this.wakeup!.start();
      log.info(
        { supervisorId: this.id, threads: config.threads, concurrency: config.concurrency, tasks, queues: config.queues },
        `supervisor started: ${config.threads} threads, tasks ${tasks.join(', ')}, ${config.queues.length ? `queues ${config.queues.join(', ')}` : 'every queue'}`,
      );
      this.claimer!.wake();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private async prepareSchema(db: Database): Promise<void> {
    const { schema } = this.config;
    if (this.config.migrate) {
      await migrate(db.pool, schema, this.log);
    } else if (!(await isMigrated(db.pool, schema))) {
      throw new Error(`schema '${schema}' is missing migrations: run 'supervisor migrate' or start without --no-migrate`);
    }
  }

  private startJobFlow(db: Database, tasks: string[]): void {
    const { config, log } = this;
    this.completer = new Completer({
      pool: db.pool,
      statement: this.sql.completeJobs,
      supervisorId: this.id,
      log,
      onWritten: (job, written) => this.count(job, written),
    });
    this.claimer = new Claimer({
      pool: db.pool,
      statement: this.sql.claimJobs,
      supervisorId: this.id,
      tasks,
      queues: config.queues,
      leaseMs: config.lease,
      log,
      freeSlots: () => this.capacity - this.inFlight,
      onClaimed: (jobs) => this.dispatch(jobs),
    });
    this.wakeup = new Wakeup({
      url: db.url,
      listen: this.sql.listen,
      pollIntervalMs: config.pollInterval,
      log,
      wake: () => this.claimer?.wake(),
    });
  }

  /** Sends claimed jobs to the threads in batches spread over the threads. */
  private dispatch(jobs: ClaimedJob[]): void {
    this.stats.claimed += jobs.length;
    this.inFlight += jobs.length;
    const size = Math.min(MAX_BATCH, Math.ceil(jobs.length / this.config.threads));
    for (let start = 0; start < jobs.length; start += size) {
      void this.runBatch(jobs.slice(start, start + size));
    }
  }

  private async runBatch(batch: ClaimedJob[]): Promise<void> {
    try {
      const outcomes = await this.pool!.runBatch(batch);
      batch.forEach((job, i) => this.completer!.add(job, outcomes[i] ?? null));
    } catch (error) {
      const reason = `worker thread died: ${error instanceof Error ? error.message : String(error)}`;
      batch.forEach((job) => this.completer!.add(job, { error: reason }));
    } finally {
      this.inFlight -= batch.length;
      if (this.inFlight === 0) this.idle?.();
      this.claimer!.slotFreed();
    }
  }

  private count(job: ClaimedJob, written: Written): void {
    if (written === 'success') this.stats.succeeded++;
    else if (written === 'retried') this.stats.retried++;
    else if (written === 'failed') this.stats.failed++;
    else this.stats.stale++;
    if (written === 'retried' || written === 'failed') {
      this.log.debug({ jobId: job.id, task: job.task, attempt: job.attempt, written }, 'job failed');
    }
  }

  /**
   * Stops gracefully: no new claims, running jobs get up to
   * `shutdownTimeout` to finish, outcomes are written, the supervisor row is
   * removed and every connection and thread is closed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { log } = this;
    log.info({ inFlight: this.inFlight, timeoutMs: this.config.shutdownTimeout }, 'shutting down: no new claims');
    this.claimer?.stop();
    await this.wakeup?.stop();
    if (!(await this.waitForIdle(this.config.shutdownTimeout))) {
      log.warn({ inFlight: this.inFlight }, 'shutdown timeout: terminating running jobs');
      await this.pool?.close();
      await this.waitForIdle(5_000);
    }
    await this.completer?.drain();
    await this.close();
    log.info({ stats: this.stats }, 'supervisor stopped');
  }

  private waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async close(): Promise<void> {
    await this.wakeup?.stop();
    await this.pool?.close();
    if (this.db) {
      await this.db.pool.query(this.sql.deregister, [this.id]).catch(() => undefined);
      await this.db.close();
    }
  }
}
