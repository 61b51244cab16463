/**
 * The supervisor's lifecycle: start (task module, database, migrations) and
 * its services, started in a list and stopped in reverse (see service.ts).
 * The path of a job through them is job-flow.ts.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { connectionOptions, defaultThreadMemoryMb, resolveOptions, retentionOptions, runOptions, type RunConfig } from '../config.js';
import { openDatabase, type Database } from '../db/connect.js';
import type { EmbeddedServer } from '../db/embedded.js';
import { isMigrated, migrate, migrateCommandFor } from '../db/migrate.js';
import { flowStatements } from '../db/sql/flow.js';
import { maintenanceStatements } from '../db/sql/maintenance.js';
import { controlChannel } from '../db/sql/statement.js';
import { supervisorStatements } from '../db/sql/supervisor.js';
import { createLogger, type Logger } from '../log.js';
import { SupervisorMetrics } from '../metrics/metrics.js';
import { MetricsServer, type Readiness } from '../metrics/server.js';
import { checkBind } from '../console/access.js';
import { ConsoleApi } from '../console/api.js';
import { ConsoleServer } from '../console/server.js';
import { Queue } from '../queue/queue.js';
import { WorkerPool } from '../worker/pool.js';
import { resolveTasksPath } from '../worker/tasks.js';
import { Claimer } from './claimer.js';
import { Completer } from './completer.js';
import { CronScheduler } from './cron-scheduler.js';
import { Gates } from './gates.js';
import { DatabaseHealth } from './health.js';
import { Heartbeat } from './heartbeat.js';
import { Holdings } from './holdings.js';
import { JobEvents, type SupervisorEvents } from './job-events.js';
import { JobFlow, noStats, type SupervisorStats } from './job-flow.js';
import { Leadership } from './leadership.js';
import { Offer } from './offer.js';
import { ProgressWriter } from './progress-writer.js';
import { Recovery } from './recovery.js';
import { Retention } from './retention.js';
import { Services, type Service } from './service.js';
import { StopWatchdog } from './stop-watchdog.js';
import { TaskPolicies } from './task-policies.js';
import { Vacuum, withClient, type BorrowConnection } from './vacuum.js';
import { Wakeup } from './wakeup.js';

export type { SupervisorStats } from './job-flow.js';
export type { JobEndEvent, JobEvent, SupervisorEvents } from './job-events.js';

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
  /** Also serve the web console on this port (default: none); see the README's console section. */
  consolePort?: number;
  consoleHost?: string;
  consoleToken?: string;
  consoleAllowActions?: boolean;
  migrate?: boolean;
  logLevel?: RunConfig['logLevel'];
  logFormat?: RunConfig['logFormat'];
  /** How long to keep jobs that succeeded (default 1 day; 0 keeps them forever). */
  keepSucceeded?: number | string;
  /** How long to keep jobs that failed for good (default 14 days; 0 keeps them forever). */
  keepFailed?: number | string;
  /** How long to keep cancelled jobs (default 7 days; 0 keeps them forever). */
  keepCancelled?: number | string;
  /** A pino logger to use instead of creating one from logLevel and logFormat. */
  logger?: Logger;
}

/** Starts a supervisor; resolves once it is claiming jobs. */
export async function startSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const { connectionString, logger, queues, ...rest } = options;
  const given = { ...rest, databaseUrl: connectionString, queues: Array.isArray(queues) ? queues.join(',') : queues };
  const config = resolveOptions({ ...connectionOptions, ...runOptions, ...retentionOptions }, given);
  const log = logger ?? createLogger(config);
  const supervisor = new Supervisor(config, log);
  await supervisor.start();
  return supervisor;
}

/**
 * A running supervisor. Create it with {@link startSupervisor}. It emits
 * job events (see {@link SupervisorEvents}):
 *
 * ```ts
 * supervisor.on('failed', (event) => alert(`${event.task} ${event.jobId}: ${event.error}`));
 * ```
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  /** This process's id in the `supervisors` table and in `locked_by`. */
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  /** Where jobs handed to this supervisor's offer arrive (at most 63 bytes, as PostgreSQL requires). */
  private readonly offerChannel: string;
  /** Where this supervisor's threads post ctx.progress() reports (a BroadcastChannel, in-process). */
  private readonly progressChannel = `pg-supervisor:progress:${this.id}`;
  /** The Prometheus instruments; `metrics.registry` can be served by an embedding application. */
  readonly metrics: SupervisorMetrics;
  private readonly holdings = new Holdings();
  private readonly health: DatabaseHealth;
  private readonly services: Services;
  private readonly sql: ReturnType<typeof supervisorStatements>;
  private readonly flowSql: ReturnType<typeof flowStatements>;
  private db: Database | undefined;
  private pool: WorkerPool | undefined;
  private flow: JobFlow | undefined;
  private leadership: Leadership | undefined;
  private taskNames: string[] = [];
  private claiming = false;
  private stopping: Promise<void> | undefined;

  /** @internal use {@link startSupervisor} */
  constructor(
    readonly config: RunConfig,
    readonly log: Logger,
  ) {
    super();
    this.sql = supervisorStatements(config.schema, config.queues);
    this.flowSql = flowStatements(config.schema);
    this.health = new DatabaseHealth(log);
    this.services = new Services(log);
    this.offerChannel = `${config.schema.slice(0, 40)}_offer_${randomBytes(6).toString('hex')}`;
    this.metrics = new SupervisorMetrics({
      schema: config.schema,
      threads: config.threads,
      capacity: this.capacity,
      source: {
        inFlight: () => this.holdings.inFlight,
        threads: () => this.pool?.threadCount ?? 0,
        leads: () => this.leadership?.leads ?? false,
        pool: () => this.db?.writePool,
      },
    });
  }

  /** Jobs by what became of them since start. */
  get stats(): SupervisorStats {
    return this.flow?.stats ?? noStats();
  }

  /** The tasks this supervisor runs (its task module's exports). */
  get tasks(): readonly string[] {
    return this.taskNames;
  }

  /**
   * Resolves once this supervisor has nothing left to do: no due job of its
   * tasks and queues is pending (paused queues aside), and every job it took
   * has its outcome written. Jobs due later (a retry's backoff, a run_at)
   * do not count. Looks every 25 ms; for scripts and tests that run what is
   * due and stop (see `runDueJobs` in `pg-supervisor/testing`).
   */
  async whenIdle(): Promise<void> {
    const { pool } = this.db ?? {};
    if (!pool) throw new Error('whenIdle: the supervisor is not started');
    for (;;) {
      const { rows } = await pool.query<{ left: boolean }>(this.sql.workLeft, [this.taskNames, this.id, this.config.queues]);
      // The table shows a job done once its outcome commits; the holdings,
      // once that outcome's events have been emitted too (a moment later).
      if (!rows[0]!.left && this.holdings.size === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Whether this supervisor leads maintenance (lease recovery, retention, vacuum, cron) for its schema. */
  get leads(): boolean {
    return this.leadership?.leads ?? false;
  }

  /** @internal The embedded PostgreSQL in use, if any. */
  get embeddedServer(): EmbeddedServer | undefined {
    return this.db?.embedded;
  }

  /** Jobs this supervisor can run at once: threads × concurrency. */
  get capacity(): number {
    return this.config.threads * this.config.concurrency;
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
    if (config.consolePort !== 0) checkBind({ host: config.consoleHost, token: config.consoleToken, allowActions: config.consoleAllowActions });
    try {
      // The task module first: a broken one stops the supervisor before any
      // database is started, created or migrated.
      const threadMemoryMb = config.threadMemoryMb ?? defaultThreadMemoryMb(config.threads);
      this.pool = new WorkerPool({ ...config, threadMemoryMb, tasksPath, databaseUrl: config.databaseUrl ?? '', progressChannel: this.progressChannel }, log);
      const policies = new TaskPolicies(await this.pool.describeTasks(), config.jobTimeout);
      const tasks = policies.names;
      this.taskNames = tasks;
      if (config.metricsPort !== 0) await this.services.start(this.metricsServer());
      this.db = await openDatabase(
        {
          databaseUrl: config.databaseUrl,
          embeddedDir: config.dataDir,
          // Only its console, while in use (see Database.pool): a supervisor
          // holds three connections, LISTEN, claims and writes, from its start
          // (migrations run on the write connection).
          maxConnections: 2,
          idleTimeoutMs: 1000,
          applicationName: this.id,
          connectTimeoutMs: config.connectTimeout,
          pooler: config.pooler,
        },
        log,
      );
      await this.prepareSchema(this.db);
      await this.db.writePool.query(this.flowSql.saveTaskDefaults, policies.defaultsColumns());
      await this.services.start(...this.assemble(this.db, this.pool, policies));
      if (config.consolePort !== 0) await this.services.start(this.consoleServer(this.db));
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
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private metricsServer(): MetricsServer {
    const { config, log } = this;
    return new MetricsServer({
      host: config.metricsHost,
      port: config.metricsPort,
      registry: this.metrics.registry,
      readiness: () => this.readiness(),
      log,
    });
  }

  /** The web console (--console-port), a view over the same Queue operations as the CLI's. */
  private consoleServer(db: Database): ConsoleServer {
    const { config, log } = this;
    const queue = new Queue({ pool: db.pool, schema: config.schema, pooler: config.pooler });
    return new ConsoleServer({
      host: config.consoleHost,
      port: config.consolePort,
      token: config.consoleToken,
      allowActions: config.consoleAllowActions,
      api: new ConsoleApi(queue, db.pool, config.consoleAllowActions, log),
      log,
    });
  }

  private async prepareSchema(db: Database): Promise<void> {
    const { schema } = this.config;
    if (this.config.migrate) {
      await migrate(db.writePool, schema, this.log);
    } else if (!(await isMigrated(db.writePool, schema))) {
      throw new Error(`schema '${schema}' is missing migrations: run '${migrateCommandFor(schema)}' or start without --no-migrate`);
    }
  }

  /** The services in the order they start: each relies on those before it until it stops. */
  private assemble(db: Database, pool: WorkerPool, policies: TaskPolicies): Service[] {
    const tasks = policies.names;
    const timeoutFor = (task: string, own: number | null) => policies.timeoutMs(task, own);
    const { config, log, sql, id: supervisorId, holdings, offerChannel, health } = this;
    const offer = new Offer({
      pool: db.claimPool,
      place: sql.placeOffer,
      withdraw: sql.withdrawOffer,
      supervisorId,
      channel: offerChannel,
      leaseMs: config.lease,
      canOffer: () => wakeup.listening,
    });
    const { flowSql } = this;
    const gates = new Gates({
      pool: db.writePool,
      statement: flowSql.gates,
      queues: config.queues,
      health,
      log,
      onChange: () => claimer.wake(),
    });
    const claimer: Claimer = new Claimer({
      pool: db.claimPool,
      statement: sql.claimJobs,
      statementWithOffer: sql.claimJobsWithOffer,
      gatedStatement: flowSql.claimGated,
      gated: () => gates.active,
      offer,
      supervisorId,
      tasks,
      queues: config.queues,
      leaseMs: config.lease,
      timeoutFor,
      health,
      freeSlots: () => flow.freeSlots,
      onClaimed: (jobs) => flow.claimed(jobs),
    });
    const completer = new Completer({
      pool: db.writePool,
      statement: sql.completeJobs,
      supervisorId,
      log,
      health,
      retryDelayMs: (job) => policies.retryDelayMs(job.task, job.attempt),
      expectedStale: (job) => flow.wasCancelled(job),
      onWritten: (job, written, result) => flow.written(job, written, result),
    });
    const flow: JobFlow = new JobFlow({
      claimer,
      offer,
      completer,
      pool,
      holdings,
      metrics: this.metrics,
      events: new JobEvents(this, log),
      log,
      threads: config.threads,
      concurrency: config.concurrency,
      timeoutFor,
      shutdownTimeoutMs: config.shutdownTimeout,
      syncNotifications: () => wakeup.sync(),
    });
    this.flow = flow;
    const listenUrl = config.listenUrl ?? (db.pooler ? undefined : db.url);
    if (listenUrl === undefined) {
      log.info(
        { pollInterval: config.pollInterval },
        `behind a pooler (--pooler) with no --listen-url: polling for jobs every ${config.pollInterval} ms, with no hand-off; cancels reach running jobs at their next heartbeat`,
      );
    }
    const wakeup: Wakeup = new Wakeup({
      url: listenUrl,
      connectTimeoutMs: db.connectTimeoutMs,
      applicationName: supervisorId,
      listen: sql.listen,
      listenOffers: sql.listenOffers(offerChannel),
      offerChannel,
      listenControl: sql.listenControl,
      controlChannel: controlChannel(config.schema),
      control: (message) => this.control(message, { flow, gates, claimer, cron }),
      ping: sql.ping,
      pollIntervalMs: config.pollInterval,
      log,
      health,
      wake: () => claimer.wake(),
      probe: () => db.writePool.query(sql.probeListen, [offerChannel]),
      handedOff: (message) => flow.handedOff(message),
      lost: () => void offer.withdraw().catch(() => undefined),
    });
    const maintenance = maintenanceStatements(config.schema);
    const recovery = new Recovery({
      pool: db.writePool,
      statement: sql.recoverExpired,
      schema: config.schema,
      leaseMs: config.lease,
      log,
      health,
      leads: () => leadership.leads,
      onRecovered: (jobs) => flow.recovered(jobs),
    });
    const retention = new Retention({
      pool: db.writePool,
      sql: maintenance,
      keep: config,
      leads: () => leadership.leads,
      health,
      log,
      onDeleted: (status, count) => this.metrics.jobsDeleted(status, count),
    });
    const borrow: BorrowConnection = listenUrl === undefined ? (use) => withClient(db.pool, use) : (use) => wakeup.lend(use);
    const vacuum = new Vacuum({ pool: db.writePool, borrow, sql: maintenance, leads: () => leadership.leads, health, log });
    const cron = new CronScheduler({
      pool: db.writePool,
      sql: flowSql,
      leads: () => leadership.leads,
      health,
      log,
      onFired: (schedule, jobs) => log.debug({ schedule, jobs }, 'added the jobs of a schedule\'s due ticks'),
    });
    const leadership = new Leadership({
      pool: db.writePool,
      sql: maintenance,
      supervisorId,
      leaseMs: config.lease,
      health,
      log,
      onChange: (leads) => {
        if (!leads) return;
        recovery.runSoon();
        retention.runSoon();
        vacuum.runSoon();
        cron.runSoon();
      },
    });
    this.leadership = leadership;
    return [
      new Heartbeat({ pool: db.writePool, sql, supervisorId, leaseMs: config.lease, ...config, tasks, holdings, health, log }),
      wakeup,
      gates,
      recovery,
      retention,
      vacuum,
      cron,
      // After the services it runs, so that winning the lead at start runs them at once.
      leadership,
      new StopWatchdog(pool, holdings),
      new ProgressWriter({ pool: db.writePool, statement: sql.writeProgress, channel: this.progressChannel, health, log }),
      flow,
    ];
  }

  /** Acts on a message of the control channel (see controlChannel in db/sql/statement.ts). */
  private control(message: string, to: { flow: JobFlow; gates: Gates; claimer: Claimer; cron: CronScheduler }): void {
    let parsed: { cancel?: unknown; queues?: unknown; keyed?: unknown; schedules?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      this.log.warn({ message: message.slice(0, 200) }, 'ignored a malformed message on the control channel');
      return;
    }
    if (Array.isArray(parsed.cancel)) to.flow.cancelled(parsed.cancel.map(String));
    if (parsed.queues) to.gates.refresh();
    if (parsed.schedules) to.cron.runSoon();
    if (parsed.keyed) {
      to.gates.keyedJobAdded();
      to.claimer.wake();
    }
  }

  /**
   * Stops gracefully (see JobFlow.stop for the jobs), then the other
   * services in reverse order; removes the supervisor row and closes the
   * threads and connections.
   */
  stop(): Promise<void> {
    this.stopping ??= this.close().then(() => this.log.info({ stats: this.stats }, 'supervisor stopped'));
    return this.stopping;
  }

  private async close(): Promise<void> {
    await this.services.stop();
    await this.pool?.close();
    if (this.db) {
      await this.db.writePool.query(this.sql.deregister, [this.id]).catch(() => undefined);
      await this.db.close();
    }
  }
}
