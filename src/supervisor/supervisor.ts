/**
 * The supervisor's lifecycle: start (database, migrations, worker pool,
 * registration, background services), the job flow (Claimer → WorkerPool →
 * Completer) and graceful stop.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { connectionOptions, defaultThreadMemoryMb, resolveOptions, runOptions, type RunConfig } from '../config.js';
import { openDatabase, type Database } from '../db/connect.js';
import type { EmbeddedServer } from '../db/embedded.js';
import { isMigrated, migrate, migrateCommandFor } from '../db/migrate.js';
import { supervisorStatements } from '../db/sql/supervisor.js';
import { createLogger, type Logger } from '../log.js';
import { SupervisorMetrics, type JobOutcomeLabel } from '../metrics/metrics.js';
import { MetricsServer, type Readiness } from '../metrics/server.js';
import { Batch, type JobResult } from '../worker/batch.js';
import { WorkerPool } from '../worker/pool.js';
import { AbortReason } from '../worker/progress.js';
import { resolveTasksPath } from '../worker/tasks.js';
import { fromClaimRow, type ClaimedJob, type ClaimRow } from './claimed-job.js';
import { Claimer } from './claimer.js';
import { Completer, type Written } from './completer.js';
import { DatabaseHealth } from './health.js';
import { Heartbeat } from './heartbeat.js';
import { Holdings } from './holdings.js';
import { Offer } from './offer.js';
import { Recovery, type RecoveredJob } from './recovery.js';
import { ABORT_GRACE_MS, TimeoutWatchdog } from './timeouts.js';
import { Wakeup } from './wakeup.js';

/**
 * Options of {@link startSupervisor}: the same as the CLI's (see the README),
 * in camelCase. Durations take milliseconds or strings such as `'30s'`.
 * Anything left out comes from its environment variable, then its default.
 */
export interface SupervisorOptions {
  /** PostgreSQL URL; without it (and without DATABASE_URL) an embedded PostgreSQL is used. */
  connectionString?: string;
  /** Give up on a database connection that has not answered within this time (default 10 s). */
  connectTimeout?: number | string;
  /** Folder of the embedded PostgreSQL, when there is no URL (default: `.supervisor/` in the project root). */
  dataDir?: string;
  schema?: string;
  /** Path of the task module (file or directory). Required. */
  tasks?: string;
  threads?: number;
  concurrency?: number;
  queues?: string[] | string;
  pollInterval?: number | string;
  lease?: number | string;
  shutdownTimeout?: number | string;
  jobTimeout?: number | string;
  threadMemoryMb?: number;
  /** Port of /metrics, /healthz and /readyz (default 9464); 0 disables the endpoint. */
  metricsPort?: number;
  metricsHost?: string;
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
  /** Failed attempts that will be retried. */
  retried: number;
  /** Jobs that used their last attempt. */
  failed: number;
  /** Jobs aborted by a shutdown and put back (attempt counted). */
  requeued: number;
  /** Jobs handed back unstarted, or killed with a thread through no fault of their own (attempt not counted). */
  released: number;
  /** Results the fence refused: the job was no longer this supervisor's. */
  stale: number;
  /** Expired leases this supervisor recovered (from any supervisor). */
  recovered: number;
  /** Jobs a producer handed straight to this supervisor's offer (also counted in `claimed`). */
  handedOff: number;
}

/** Most jobs in one piscina task (see shared/notes/piscina-dispatch.md). */
const MAX_BATCH = 64;

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

/** The parts that exist while the supervisor runs. */
interface Running {
  db: Database;
  pool: WorkerPool;
  claimer: Claimer;
  offer: Offer;
  completer: Completer;
  wakeup: Wakeup;
  heartbeat: Heartbeat;
  recovery: Recovery;
  watchdog: TimeoutWatchdog;
}

/** A running supervisor. Create it with {@link startSupervisor}. */
export class Supervisor {
  /** This process's id in the `supervisors` table and in `locked_by`. */
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  /** Where jobs handed to this supervisor's offer arrive (at most 63 bytes, as PostgreSQL requires). */
  private readonly offerChannel: string;
  readonly stats: SupervisorStats = {
    claimed: 0, succeeded: 0, retried: 0, failed: 0, requeued: 0, released: 0, stale: 0, recovered: 0, handedOff: 0,
  };
  /** The Prometheus instruments; `metrics.registry` can be served by an embedding application. */
  readonly metrics: SupervisorMetrics;
  private readonly holdings = new Holdings();
  private readonly health: DatabaseHealth;
  private server: MetricsServer | undefined;
  private claiming = false;
  private readonly sql: ReturnType<typeof supervisorStatements>;
  private db: Database | undefined;
  private pool: WorkerPool | undefined;
  private parts: Running | undefined;
  /** Jobs sent to threads whose result is not known yet. */
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  /** @internal use {@link startSupervisor} */
  constructor(
    readonly config: RunConfig,
    readonly log: Logger,
  ) {
    this.sql = supervisorStatements(config.schema, config.queues);
    this.health = new DatabaseHealth(log);
    this.offerChannel = `${config.schema.slice(0, 40)}_offer_${randomBytes(6).toString('hex')}`;
    this.metrics = new SupervisorMetrics({
      schema: config.schema,
      threads: config.threads,
      capacity: this.capacity,
      source: { inFlight: () => this.inFlight, threads: () => this.pool?.threadCount ?? 0, pool: () => this.db?.pool },
    });
  }

  /** @internal The embedded PostgreSQL in use, if any. */
  get embeddedServer(): EmbeddedServer | undefined {
    return this.db?.embedded;
  }

  /** Jobs this supervisor can run at once: threads × concurrency. */
  get capacity(): number {
    return this.config.threads * this.config.concurrency;
  }

  /** Job slots not taken by a job right now. */
  private get freeSlots(): number {
    return this.capacity - this.inFlight;
  }

  /** Whether the supervisor is claiming: started, connected, and not shutting down (served on /readyz). */
  readiness(): Readiness {
    if (this.stopping) return { ready: false, reason: 'shutting down' };
    if (!this.claiming) return { ready: false, reason: 'starting' };
    const problem = this.health.problem;
    return problem ? { ready: false, reason: problem } : { ready: true, reason: 'ready' };
  }

  /** @internal */
  async start(): Promise<void> {
    const { config, log } = this;
    const tasksPath = await resolveTasksPath(config.tasks);
    try {
      // The task module first: a broken one stops the supervisor before any
      // database is started, created or migrated.
      const threadMemoryMb = config.threadMemoryMb ?? defaultThreadMemoryMb(config.threads);
      this.pool = new WorkerPool({ ...config, threadMemoryMb, tasksPath, databaseUrl: config.databaseUrl ?? '' }, log);
      const tasks = await this.pool.describeTasks();
      await this.startMetricsServer();
      this.db = await openDatabase(
        {
          databaseUrl: config.databaseUrl,
          embeddedDir: config.dataDir,
          maxConnections: 4,
          applicationName: this.id,
          connectTimeoutMs: config.connectTimeout,
        },
        log,
      );
      await this.prepareSchema(this.db);
      this.parts = this.assemble(this.db, this.pool, tasks);
      await this.parts.heartbeat.start();
      await this.parts.wakeup.start();
      this.parts.recovery.start();
      this.parts.watchdog.start();
      log.info(
        {
          supervisorId: this.id,
          threads: config.threads,
          concurrency: config.concurrency,
          threadMemoryMb,
          tasks,
          queues: config.queues,
        },
        `supervisor started: ${config.threads} thread${config.threads === 1 ? '' : 's'}, tasks ${tasks.join(', ')}, ${config.queues.length ? `queues ${config.queues.join(', ')}` : 'every queue'}`,
      );
      this.claiming = true;
      this.parts.claimer.wake();
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private async startMetricsServer(): Promise<void> {
    const { config, log } = this;
    if (config.metricsPort === 0) return;
    this.server = new MetricsServer({
      host: config.metricsHost,
      port: config.metricsPort,
      registry: this.metrics.registry,
      readiness: () => this.readiness(),
      log,
    });
    await this.server.start();
  }

  private async prepareSchema(db: Database): Promise<void> {
    const { schema } = this.config;
    if (this.config.migrate) {
      await migrate(db.pool, schema, this.log);
    } else if (!(await isMigrated(db.pool, schema))) {
      throw new Error(`schema '${schema}' is missing migrations: run '${migrateCommandFor(schema)}' or start without --no-migrate`);
    }
  }

  private assemble(db: Database, pool: WorkerPool, tasks: string[]): Running {
    const { config, log, sql, id: supervisorId, holdings, offerChannel } = this;
    const offer = new Offer({
      pool: db.claimPool,
      place: sql.placeOffer,
      withdraw: sql.withdrawOffer,
      supervisorId,
      channel: offerChannel,
      leaseMs: config.lease,
      canOffer: () => wakeup.listening,
    });
    const claimer: Claimer = new Claimer({
      pool: db.claimPool,
      statement: sql.claimJobs,
      statementWithOffer: sql.claimJobsWithOffer,
      offer,
      supervisorId,
      tasks,
      queues: config.queues,
      leaseMs: config.lease,
      jobTimeoutMs: config.jobTimeout,
      health: this.health,
      freeSlots: () => this.freeSlots,
      onClaimed: (jobs) => this.dispatch(jobs),
    });
    const wakeup: Wakeup = new Wakeup({
      url: db.url,
      connectTimeoutMs: db.connectTimeoutMs,
      applicationName: supervisorId,
      listen: sql.listen,
      listenOffers: sql.listenOffers(offerChannel),
      offerChannel,
      ping: sql.ping,
      pollIntervalMs: config.pollInterval,
      log,
      health: this.health,
      wake: () => claimer.wake(),
      handedOff: (message) => this.handedOff(message),
      lost: () => void offer.withdraw().catch(() => undefined),
    });
    return {
      db,
      pool,
      claimer,
      offer,
      wakeup,
      completer: new Completer({
        pool: db.batchPool,
        statement: sql.completeJobs,
        supervisorId,
        log,
        health: this.health,
        onWritten: (job, written, result) => this.written(job, written, result),
      }),
      heartbeat: new Heartbeat({ pool: db.pool, batchPool: db.batchPool, sql, supervisorId, leaseMs: config.lease, ...config, tasks, holdings, health: this.health, log }),
      recovery: new Recovery({
        pool: db.pool,
        statement: sql.recoverExpired,
        schema: config.schema,
        leaseMs: config.lease,
        log,
        health: this.health,
        onRecovered: (jobs) => this.recovered(jobs),
      }),
      watchdog: new TimeoutWatchdog(pool),
    };
  }

  /**
   * Sends claimed jobs to the threads in batches spread over the threads.
   * A batch holds at most half a thread's concurrency, so a thread holds at
   * least two batches and each frees its slots (and lets the next claim
   * start) while the other still runs.
   */
  private dispatch(jobs: ClaimedJob[]): void {
    this.stats.claimed += jobs.length;
    this.inFlight += jobs.length;
    this.metrics.utilization.set(this.inFlight);
    for (const job of jobs) this.metrics.jobClaimed(job, job.lagSeconds);
    const { threads, concurrency } = this.config;
    const size = Math.min(MAX_BATCH, Math.ceil(jobs.length / threads), Math.ceil(concurrency / 2));
    for (let start = 0; start < jobs.length; start += size) {
      const batch = new Batch(jobs.slice(start, start + size));
      this.holdings.add(batch);
      void this.runBatch(batch);
    }
  }

  /**
   * A job a producer handed to our offer: it is ours already (attempt 1,
   * leased). Run it in the slot the offer kept, or hand it back if there is
   * none (shutting down, or an offer we had given up for lost).
   */
  private handedOff(message: string): void {
    let job: ClaimedJob;
    try {
      job = fromClaimRow(JSON.parse(message) as ClaimRow, this.config.jobTimeout);
    } catch (error) {
      this.log.error({ err: error, message: message.slice(0, 200) }, 'ignored a malformed message on this supervisor\'s offer channel');
      return;
    }
    const { claimer, completer } = this.parts!;
    this.stats.handedOff++;
    if (this.stopping || this.freeSlots <= 0) completer.add(job, { kind: 'release' });
    else this.dispatch([job]);
    claimer.handedOff();
  }

  private async runBatch(batch: Batch<ClaimedJob>): Promise<void> {
    const { pool, completer, claimer } = this.parts!;
    const results = await pool.run(batch);
    const now = Date.now();
    for (const [index, result] of results) {
      const job = batch.jobs[index]!;
      if (result.kind !== 'release') this.metrics.jobRan(job, RAN[result.kind], batch.progress.ranFor(index, now) / 1000);
      completer.add(job, result);
    }
    this.inFlight -= batch.jobs.length;
    this.metrics.utilization.set(this.inFlight);
    if (this.inFlight === 0) this.idle?.();
    claimer.slotFreed();
  }

  private written(job: ClaimedJob, written: Written, result: JobResult): void {
    this.holdings.remove(job.id);
    this.stats[COUNTERS[written]]++;
    if (written === 'success' || written === 'retried' || written === 'failed') this.metrics.jobWritten(job, written);
    else if (written === 'stale') this.metrics.staleCompletion();
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
    if (written === 'failed') this.log.warn(fields, `job ${job.id} (${job.task}) failed after ${job.attempt} attempt(s): ${error}`);
    else this.log.debug(fields, 'job attempt failed; it will be retried');
  }

  private recovered(jobs: RecoveredJob[]): void {
    this.stats.recovered += jobs.length;
    this.metrics.leasesRecovered(jobs.length);
    this.parts?.claimer.wake();
  }

  /**
   * Stops gracefully: no new claims; jobs claimed but not started are handed
   * back at once (attempt not counted); running jobs get `shutdownTimeout`
   * to finish, then their signals are aborted and, after a grace period,
   * their threads terminated and the jobs put back (attempt counted); every
   * result is written; the supervisor row is removed; threads and
   * connections are closed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { log } = this;
    if (!this.parts) return this.close();
    const { claimer, offer, wakeup, completer, pool } = this.parts;
    log.info({ inFlight: this.inFlight, timeoutMs: this.config.shutdownTimeout }, 'shutting down: no new claims');
    claimer.stop();
    // Jobs handed off before the offer is gone arrive by the ping, and are handed back.
    await offer.withdraw().catch((error: unknown) => log.warn({ err: error }, 'could not withdraw the offer; the supervisor row takes it along'));
    await wakeup.sync();
    await wakeup.stop();
    this.releaseUnstarted();
    if (!(await this.waitForIdle(this.config.shutdownTimeout))) {
      log.warn({ running: this.inFlight }, 'shutdown timeout: aborting running jobs');
      this.abortRunning(AbortReason.Shutdown);
      if (!(await this.waitForIdle(ABORT_GRACE_MS))) {
        pool.terminateBusy();
        await this.waitForIdle(10_000);
      }
    }
    await completer.drain();
    await this.close();
    log.info({ stats: this.stats }, 'supervisor stopped');
  }

  /** Hands back every held job that has not started, so another supervisor can run it now. */
  private releaseUnstarted(): void {
    let released = 0;
    for (const { job, batch, index } of this.holdings.values()) {
      if (batch.release(index)) {
        this.parts!.completer.add(job, { kind: 'release' } satisfies JobResult);
        released++;
      }
    }
    if (released > 0) this.log.info({ released }, 'handed back claimed jobs that had not started');
  }

  private abortRunning(reason: AbortReason): void {
    for (const { batch, index } of this.holdings.values()) batch.progress.requestAbort(index, reason);
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
    const parts = this.parts;
    await parts?.wakeup.stop();
    parts?.watchdog.stop();
    await parts?.heartbeat.stop();
    await parts?.recovery.stop();
    await this.pool?.close();
    if (this.db) {
      await this.db.pool.query(this.sql.deregister, [this.id]).catch(() => undefined);
      await this.db.close();
    }
    await this.server?.stop();
  }
}

const RAN: Record<Exclude<JobResult['kind'], 'release'>, JobOutcomeLabel> = {
  success: 'success',
  error: 'failure',
  requeue: 'aborted',
};

const COUNTERS: Record<Written, keyof SupervisorStats> = {
  success: 'succeeded',
  retried: 'retried',
  failed: 'failed',
  requeued: 'requeued',
  released: 'released',
  stale: 'stale',
};
