/**
 * The producer API: add jobs, retry failed ones, cancel, list. Used by
 * applications (`new Queue(...)`) and by the CLI.
 */
import pg from 'pg';
import { ConfigError, connectionOptions, parseDuration, parseRate, type RateLimit, databaseUrl, resolveOptions, type JobStatus } from '../config.js';
import { describeUrl, explainConnectionError, isConnectionError } from '../db/connect.js';
import { migrate, migrateCommandFor } from '../db/migrate.js';
import { useEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.js';
import { silentLogger } from '../log.js';
import { defaultDataDir } from '../paths.js';
import { KEEP_ALIVE } from '../db/keep-alive.js';
import { producerStatements } from '../db/sql/producer.js';
import { flowStatements } from '../db/sql/flow.js';
import { BULK_CHUNK, jobFilterStatements, type JobFilter } from '../db/sql/job-filter.js';
import { cronOf, MAX_BACKFILL, nextTick } from './cron.js';
import type { AnyTasks, TaskJobSpec, TaskName, TaskPayload } from './typed.js';
import { checkFilter, checkInteger, checkText, collect, isIds, MAX_NAME_BYTES, toColumns, toRow } from './job-spec.js';
import { FinishedListener, Wakeup } from './finished-listener.js';
import { JobFailedError, WaitTimeoutError } from './errors.js';
import { finishedChannel } from '../db/sql/statement.js';
import { activeTraceContext } from './trace-context.js';

/** Options of one job. Every field is optional. */

/** PostgreSQL's error code for a table that does not exist: the schema was never migrated. */
const UNDEFINED_TABLE = '42P01';

export interface JobOptions {
  /** Queue to put the job in (default: the task's, else `default`). */
  queue?: string;
  /** Do not run before this time (default: now). */
  runAt?: Date;
  /** Lower runs first (default: the task's, else 0). */
  priority?: number;
  /** Attempts before the job ends `failed` (default: the task's, else 3). */
  maxAttempts?: number;
  /** De-duplication key: a second job with the same key is not added. */
  jobKey?: string;
  /** Abort the job after this many milliseconds (default: the task's, else the supervisor's --job-timeout). */
  timeout?: number;
  /**
   * The job never runs beside more than `concurrencyLimit` running jobs with
   * the same key, across every supervisor (one customer's jobs one at a
   * time: `'customer:42'`).
   */
  concurrencyKey?: string;
  /** Running jobs allowed at once per `concurrencyKey` (default 1). */
  concurrencyLimit?: number;
  /**
   * After adding, check that a live supervisor runs this task, and emit a
   * process warning (`PG_SUPERVISOR_NO_RUNNER`) when none does: a typo in
   * the task name would otherwise leave the job waiting with no word. One
   * more query; off by default (`supervisor enqueue` always checks).
   */
  checkTask?: boolean;
  /**
   * A client inside the caller's transaction (a `pg` Client or PoolClient,
   * or anything with a compatible `query`): the job is added in that
   * transaction, so it exists only if the transaction commits, and the
   * supervisors are woken at the commit. Such a job is never handed off.
   */
  client?: QueryClient;
}

/** What {@link JobOptions.client} needs: pg's `query(config, values)`. */
export interface QueryClient {
  query<R extends pg.QueryResultRow = any>(config: pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** One job for {@link Queue.addMany}. */
export interface JobSpec extends Omit<JobOptions, 'client'> {
  task: string;
  payload?: unknown;
}

/** The result of adding one job. */
export interface AddedJob {
  /** The job's id (a bigint, as a string). */
  id: string;
  /** False when a job with the same `jobKey` already existed; `id` is then that job's. */
  created: boolean;
}

/** A job as listed by {@link Queue.listJobs}. */
export interface JobRow {
  job_id: string;
  task: string;
  queue: string;
  job_status: JobStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  locked_by: string | null;
  last_error: string | null;
  job_key: string | null;
  created_at: Date;
  /** When the current (or last) attempt started. */
  started_at: Date | null;
  finished_at: Date | null;
  job_data: string;
}

/** Every column of one job, as {@link Queue.getJob} returns it. */
export interface JobDetails extends JobRow {
  /** Until when `locked_by` holds the job (while it runs). */
  locked_until: Date | null;
  /** The job's own timeout in ms; null for its task's, else the supervisor's --job-timeout. */
  timeout_ms: number | null;
  /** Its concurrency key and how many jobs with it may run at once (null: 1); null without a key. */
  concurrency_key: string | null;
  concurrency_limit: number | null;
  /** What the handler returned (a JSON value), once the job succeeded; null otherwise or when it returned nothing. */
  result: unknown;
  /** What the handler last reported with `ctx.progress()` (in this attempt or an earlier one); null before any report. */
  progress: unknown;
  /** Whether someone waits for its end ({@link Queue.waitFor}). */
  awaited: boolean;
  /** The OpenTelemetry context it was added in (`traceparent`, …); null without one. */
  trace_context: Record<string, string> | null;
  /** Every failed attempt's error (the 24 newest), oldest first; null when none failed. */
  errors: { attempt: number; at: string; by: string | null; error: string }[] | null;
  updated_at: Date;
}

export type { JobStatus, RateLimit } from '../config.js';
export type { JobFilter } from '../db/sql/job-filter.js';

/** A queue's settings, as {@link Queue.setQueue} takes them. */
export interface QueueSettings {
  /** No supervisor claims the queue's jobs while true; they can still be added. */
  paused?: boolean;
  /** At most this many of its jobs run at once across every supervisor; null for no limit. */
  concurrency?: number | null;
  /** At most `limit` of its jobs start in any `periodMs`, or a string such as `'100/1m'`; null for no limit. */
  rate?: RateLimit | string | null;
}

/** A queue as {@link Queue.queues} lists it. */
export interface QueueState {
  queue: string;
  paused: boolean;
  concurrency: number | null;
  rate: RateLimit | null;
  pending: number;
  running: number;
}

/** Options of a schedule (see {@link Queue.schedule}). */
export interface ScheduleOptions {
  /** Queue, priority and attempts of its jobs (default: the task's, else the table's). */
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  /** IANA time zone the expression is read in (default UTC). */
  timezone?: string;
  /** When ticks were missed (no supervisor up), add at most this many of the newest (default 1; at most 1000). */
  backfill?: number;
}

/** A schedule as {@link Queue.schedules} lists it. */
export interface Schedule extends ScheduleOptions {
  name: string;
  expression: string;
  task: string;
  payload: unknown;
  /** The newest tick a job was added for (or when the schedule was saved). */
  lastTick: Date;
  /** The next tick, or null when the expression never fires again. */
  nextRun: Date | null;
}

export interface QueueOptions {
  /**
   * PostgreSQL URL; defaults to the `DATABASE_URL` environment variable, and
   * without either to the project's embedded PostgreSQL (as the CLI).
   */
  connectionString?: string;
  /** Folder of the embedded PostgreSQL (default: SUPERVISOR_DATA_DIR, else `.supervisor/` in the project root). */
  dataDir?: string;
  /** An existing pool to use instead (the Queue then never closes it). */
  pool?: pg.Pool;
  /** Schema of the jobs table (default `supervisor`). */
  schema?: string;
  /**
   * Give up on a connection that has not answered within this time, in ms or
   * as a string such as `'5s'` (default: SUPERVISOR_CONNECT_TIMEOUT, else 10 s).
   */
  connectTimeout?: number | string;
  /**
   * The URL (or the given pool) goes through a pooler in transaction mode
   * (PgBouncer, RDS Proxy, Supavisor): statements are sent unprepared, and
   * {@link Queue.waitFor} listens on `listenUrl`, or else looks at its job
   * every half second.
   */
  pooler?: boolean;
  /** A URL straight to PostgreSQL, where {@link Queue.waitFor} listens (needed behind a pooler, to hear rather than poll). */
  listenUrl?: string;
}

/** What PostgreSQL says when a pooler in transaction mode moved a prepared statement's session away. */
const PREPARED_ELSEWHERE = /prepared statement ".*" (already exists|does not exist)/;

/** How often {@link Queue.waitFor} looks at its job behind a pooler with no `listenUrl`. */
const POOLER_POLL_MS = 500;

/** Rows per insert statement in {@link Queue.addMany}; keeps each statement's arrays a sensible size. */
const INSERT_CHUNK = 5000;

/**
 * Adds and manages jobs. Typed with a task module (`new Queue<typeof
 * tasks>()`), it checks task names and payloads where jobs are added.
 *
 * ```ts
 * const queue = new Queue({ connectionString: process.env.DATABASE_URL });
 * await queue.add('sendEmail', { to: 'a@example.com' }, { maxAttempts: 5 });
 * await queue.close();
 * ```
 */
export class Queue<Tasks = AnyTasks> {
  readonly schema: string;
  /** The pool, once connected: at once for a URL or a given pool; after finding the embedded server otherwise. */
  private pool: pg.Pool | Promise<pg.Pool>;
  private readonly ownsPool: boolean;
  private embedded: EmbeddedServer | undefined;
  private readonly sql: ReturnType<typeof producerStatements>;
  private readonly flowSql: ReturnType<typeof flowStatements>;
  private readonly filterSql: ReturnType<typeof jobFilterStatements>;
  private readonly connectTimeoutMs: number;
  private readonly finished: FinishedListener;
  /** Rewords a failure to connect through the Queue's own pool so that it names the server. */
  private explain: (error: unknown) => unknown = (error) => error;
  private readonly pooler: boolean;
  /** The pool waitFor listens on when `listenUrl` is given; without one, behind a pooler, waitFor polls. */
  private listenPool: pg.Pool | undefined;

  constructor(options: QueueOptions = {}) {
    this.schema = connectionOptions.schema.parse(options.schema ?? connectionOptions.schema.default, 'schema');
    const { connectTimeout, dataDir } = resolveOptions(
      { connectTimeout: connectionOptions.connectTimeout, dataDir: connectionOptions.dataDir },
      { connectTimeout: options.connectTimeout, dataDir: options.dataDir },
    );
    this.connectTimeoutMs = connectTimeout;
    this.sql = producerStatements(this.schema);
    this.flowSql = flowStatements(this.schema);
    this.filterSql = jobFilterStatements(this.schema);
    this.pooler = options.pooler ?? false;
    const url = databaseUrl(options.connectionString ?? process.env.DATABASE_URL, 'connectionString');
    if (this.pooler && !options.pool && !url) {
      throw new ConfigError('pooler: true says the connection goes through a pooler, but no connectionString (nor DATABASE_URL) is given');
    }
    const listenUrl = databaseUrl(options.listenUrl, 'listenUrl');
    if (listenUrl !== undefined) this.listenPool = new pg.Pool({ connectionString: listenUrl, max: 1, connectionTimeoutMillis: connectTimeout, ...KEEP_ALIVE });
    this.listenPool?.on('error', () => undefined);
    this.finished = new FinishedListener({
      pool: async () => this.listenPool ?? this.pool,
      channel: finishedChannel(this.schema),
      listen: this.sql.listenFinished,
      unlisten: this.sql.unlistenFinished,
    });
    this.ownsPool = !options.pool;
    if (options.pool) {
      this.pool = options.pool;
      return;
    }
    if (url) {
      this.pool = this.connect(url);
    } else {
      // No URL: the project's embedded PostgreSQL, found (or started) as the CLI does.
      this.pool = useEmbeddedPostgres({ dir: dataDir ?? defaultDataDir() }, silentLogger()).then((server) => {
        this.embedded = server;
        return this.connect(server.url);
      });
      this.pool.catch(() => undefined); // reported by the first query
    }
  }

  /** The Queue's own pool for `url`. */
  private connect(url: string): pg.Pool {
    // pg closes a connection after 10 s idle; the next add would then pay
    // a new connection and re-prepare its statement (8-10 ms instead of
    // 1.5). min 1 keeps one open; allowExitOnIdle lets a script that never
    // calls close() still exit once its adds are done.
    const pool = new pg.Pool({
      connectionString: url,
      max: 4,
      min: 1,
      allowExitOnIdle: true,
      connectionTimeoutMillis: this.connectTimeoutMs,
      ...KEEP_ALIVE,
    });
    pool.on('error', () => undefined); // a broken idle connection is replaced on next use
    const where = describeUrl(url);
    this.explain = (error) => (isConnectionError(error) ? explainConnectionError(error, where, this.connectTimeoutMs) : error);
    return pool;
  }

  /** Adds one job. With a `jobKey` that already exists, returns the existing job's id. */
  async add<Task extends TaskName<Tasks>>(task: Task, payload: TaskPayload<Tasks[Task]> = {} as TaskPayload<Tasks[Task]>, options: JobOptions = {}): Promise<AddedJob> {
    const { client, ...rest } = options;
    const spec = { ...rest, task, payload };
    // In the caller's transaction, no hand-off: its lease would start before the commit.
    if (client) return (await this.addMany([spec], { client }))[0]!;
    const { rows } = await this.query<{ job_id: string }>(this.sql.insertJob, [...toRow(spec, -1), activeTraceContext()]);
    // Without a row, its jobKey exists: addMany knows how to find that job.
    const added = rows[0] ? { id: rows[0].job_id, created: true } : (await this.addMany([spec]))[0]!;
    if (options.checkTask) {
      const warning = await this.noRunnerWarning(task);
      if (warning) process.emitWarning(warning, { code: 'PG_SUPERVISOR_NO_RUNNER' });
    }
    return added;
  }

  /** The tasks that live supervisors (those whose heartbeat is within their lease) run. */
  async runnableTasks(): Promise<string[]> {
    const { rows } = await this.query<{ task: string }>(this.sql.liveTasks, []);
    return rows.map((row) => row.task).sort();
  }

  /** What to tell the user when no live supervisor runs `task`; undefined when one does. */
  async noRunnerWarning(task: string): Promise<string | undefined> {
    const tasks = await this.runnableTasks();
    return tasks.includes(task) ? undefined : noRunnerMessage(task, tasks);
  }

  /** Every column of job `id`, or undefined when there is no such job. */
  async getJob(id: string): Promise<JobDetails | undefined> {
    const { rows } = await this.query<JobDetails>(this.sql.getJob, [id]);
    return rows[0];
  }

  /**
   * Waits for job `id` to end, and resolves with it (its `result`, timings
   * and attempts) when it succeeded. Rejects with a {@link JobFailedError}
   * when it failed for good or was cancelled, with a
   * {@link WaitTimeoutError} when `timeout` (ms, or `'30s'`) passes first (the job goes
   * on), and with an error when there is no such job. Woken by a
   * notification at the job's end, not by polling; while any wait is in
   * progress, one connection of the Queue's pool listens.
   *
   * ```ts
   * const { id } = await queue.add('resize', { image: 'a.png' });
   * const { result } = await queue.waitFor(id, { timeout: 30_000 });
   * ```
   */
  async waitFor(id: string, options: { timeout?: number | string } = {}): Promise<JobDetails> {
    const timeout = typeof options.timeout === 'string' ? parseDuration(options.timeout, "waitFor's timeout") : options.timeout;
    if (timeout !== undefined && !(Number.isFinite(timeout) && timeout >= 0)) {
      throw new ConfigError(`waitFor's timeout must be 0 or more milliseconds, or a duration such as '30s' (got ${options.timeout})`);
    }
    if (!/^\d{1,19}$/.test(id)) throw new ConfigError(`waitFor takes a job id, digits as a string such as '42' (got ${JSON.stringify(id)})`);
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout;
    const wakeup = new Wakeup();
    const unsubscribe = this.finished.subscribe(id, wakeup.fire);
    const polls = this.pooler && !this.listenPool;
    try {
      let statement = this.sql.awaitJob;
      for (;;) {
        if (!polls) await this.finished.ready().catch((error: unknown) => Promise.reject(this.explain(error)));
        const job = (await this.query<JobDetails>(statement, [id])).rows[0];
        if (!job) throw new Error(`waitFor: there is no job ${id} (it was never added, or was deleted)`);
        if (job.job_status === 'success') return job;
        if (job.job_status === 'failed' || job.job_status === 'cancelled') throw new JobFailedError(job);
        const left = deadline - Date.now();
        if (!(await wakeup.wait(polls ? Math.min(left, POOLER_POLL_MS) : left)) && (!polls || left <= POOLER_POLL_MS)) {
          throw new WaitTimeoutError(job, timeout!);
        }
        statement = this.sql.getJob; // marked once; after a wake-up, only read
      }
    } finally {
      unsubscribe();
    }
  }

  /** How many jobs match `filter`, counted up to `upTo` (a huge table is not counted in full). */
  async countJobs(filter: JobFilter = {}, upTo = 10_000): Promise<number> {
    const { statement, values } = this.filterSql.countJobs(checkFilter(filter), upTo);
    return (await this.query<{ count: number }>(statement, values)).rows[0]!.count;
  }

  /** Pending jobs whose task no live supervisor runs, by task and queue (most first). */
  async jobsWithoutRunner(): Promise<{ task: string; queue: string; count: number }[]> {
    return (await this.query<{ task: string; queue: string; count: number }>(this.sql.jobsWithoutRunner, [])).rows;
  }

  /**
   * Adds many jobs, one round trip per 5,000. Returns one entry per spec, in
   * order; jobs whose `jobKey` already existed get that job's id and
   * `created: false`.
   */
  async addMany(specs: readonly TaskJobSpec<Tasks>[], options: { client?: QueryClient } = {}): Promise<AddedJob[]> {
    const { client } = options;
    const columns = toColumns(specs);
    const traceContext = activeTraceContext();
    const results: AddedJob[] = new Array(specs.length);
    const missing = new Map<string, number[]>();
    for (let start = 0; start < specs.length; start += INSERT_CHUNK) {
      const end = Math.min(start + INSERT_CHUNK, specs.length);
      const { rows } = await this.query<{ job_id: string; job_key: string | null }>(
        this.sql.insertJobs,
        [...columns.map((column) => column.slice(start, end)), traceContext],
        client,
      );
      collect(rows, specs, start, end, results, missing);
    }
    if (missing.size > 0) {
      const { rows } = await this.query<{ job_id: string; job_key: string }>(this.sql.jobIdsByKey, [[...missing.keys()]], client);
      for (const row of rows) {
        for (const index of missing.get(row.job_key) ?? []) results[index] = { id: row.job_id, created: false };
      }
    }
    return results;
  }

  /**
   * Puts jobs back to `pending` with a fresh set of attempts. With `ids`,
   * those jobs if they are failed or cancelled; otherwise every job that
   * matches the filter and is failed (or cancelled, with `status:
   * 'cancelled'`). Returns the ids re-queued.
   */
  async retry(target: { ids?: readonly string[] } & JobFilter = {}): Promise<string[]> {
    const { ids, ...filter } = target;
    if (ids) return this.byIds(this.filterSql.retryJobsById, ids);
    if (filter.status !== undefined && filter.status !== 'failed' && filter.status !== 'cancelled') {
      throw new ConfigError(`retry re-queues failed or cancelled jobs: its status filter must be 'failed' or 'cancelled' (got '${filter.status}')`);
    }
    const statuses: JobStatus[] = filter.status === 'cancelled' ? ['cancelled'] : ['failed'];
    return this.untilDone(() => this.filterSql.retryJobs(checkFilter({ ...filter, status: undefined }), statuses));
  }

  /**
   * Cancels pending or running jobs: those of `target` when it is a list of
   * ids, else every pending or running job that matches it. A running job's
   * supervisor aborts it at once. Returns the ids cancelled.
   */
  async cancel(target: readonly string[] | JobFilter): Promise<string[]> {
    if (isIds(target)) return this.byIds(this.filterSql.cancelJobs, target);
    const filter = checkFilter(target);
    const cancelled: string[] = [];
    for (;;) {
      const { statement, values } = this.filterSql.cancellableIds(filter);
      const ids = (await this.query<{ job_id: string }>(statement, values)).rows.map((row) => row.job_id);
      if (ids.length === 0) return cancelled;
      cancelled.push(...(await this.byIds(this.filterSql.cancelJobs, ids)));
      if (ids.length < BULK_CHUNK) return cancelled;
    }
  }

  /**
   * Deletes jobs that are not running (cancel a running job first): those
   * of `target` when it is a list of ids, else every one that matches it.
   * Returns the ids deleted.
   */
  async deleteJobs(target: readonly string[] | JobFilter): Promise<string[]> {
    if (isIds(target)) return this.byIds(this.filterSql.deleteJobsById, target);
    const filter = checkFilter(target);
    return this.untilDone(() => this.filterSql.deleteJobs(filter));
  }

  /**
   * Lists jobs that match `filter`, newest first, `limit` at a time (default
   * 20). For the next page, pass the last job's id as `before`: each page
   * is read from where the previous one ended (no offset to skip), so pages
   * stay fast on a table of millions of jobs.
   */
  async listJobs(filter: JobFilter & { limit?: number; before?: string } = {}): Promise<JobRow[]> {
    const { limit = 20, before, ...rest } = filter;
    checkInteger(limit, 'limit', -1, 1);
    if (before !== undefined && !/^\d{1,19}$/.test(before)) throw new ConfigError(`before takes a job id, digits as a string (got ${JSON.stringify(before)})`);
    const { statement, values } = this.filterSql.listJobs(checkFilter(rest), limit, before ?? null);
    return (await this.query<JobRow>(statement, values)).rows;
  }

  /** Runs a by-ids statement; returns the ids it changed. */
  private async byIds(statement: pg.QueryConfig, ids: readonly string[]): Promise<string[]> {
    const bad = ids.filter((id) => !/^\d{1,19}$/.test(id));
    if (bad.length > 0) throw new ConfigError(`job ids are digits as strings, such as '42' (got ${bad.map((id) => JSON.stringify(id)).join(', ')})`);
    return (await this.query<{ job_id: string }>(statement, [ids])).rows.map((row) => row.job_id);
  }

  /** Repeats a bulk statement (BULK_CHUNK jobs at a time) until it changes fewer; returns every id changed. */
  private async untilDone(next: () => { statement: pg.QueryConfig; values: unknown[] }): Promise<string[]> {
    const changed: string[] = [];
    for (;;) {
      const { statement, values } = next();
      const ids = (await this.query<{ job_id: string }>(statement, values)).rows.map((row) => row.job_id);
      changed.push(...ids);
      if (ids.length < BULK_CHUNK) return changed;
    }
  }

  /**
   * Pauses a queue: every supervisor stops claiming its jobs at once (those
   * running finish); jobs can still be added. Lasts until {@link resume}.
   */
  async pause(queue: string): Promise<void> {
    await this.setQueue(queue, { paused: true });
  }

  /** Resumes a paused queue: supervisors are told, and claim its jobs at once. */
  async resume(queue: string): Promise<void> {
    await this.setQueue(queue, { paused: false });
  }

  /**
   * Changes a queue's settings (those left out stay as they are), and tells
   * every supervisor. Limits hold across every supervisor.
   *
   * ```ts
   * await queue.setQueue('reports', { concurrency: 2, rate: '100/1m' });
   * ```
   */
  async setQueue(queue: string, settings: QueueSettings): Promise<QueueState> {
    checkText(queue, 'queue', -1, MAX_NAME_BYTES);
    const unknown = Object.keys(settings).filter((key) => !['paused', 'concurrency', 'rate'].includes(key));
    if (unknown.length > 0 || Object.keys(settings).length === 0) {
      throw new ConfigError(`setQueue takes paused, concurrency and rate (null removes a limit)${unknown.length ? `; got ${unknown.join(', ')}` : ': none was given'}`);
    }
    const { concurrency, rate } = settings;
    if (concurrency !== undefined && concurrency !== null) checkInteger(concurrency, 'concurrency', -1, 1);
    const limit = typeof rate === 'string' ? parseRate(rate, 'rate') : rate;
    if (limit) {
      checkInteger(limit.limit, 'rate.limit', -1, 1);
      checkInteger(limit.periodMs, 'rate.periodMs', -1, 1);
    }
    const { rows } = await this.query<QueueRow>(this.flowSql.setQueue, [
      queue,
      settings.paused ?? null,
      concurrency !== undefined,
      concurrency ?? null,
      rate !== undefined,
      limit?.limit ?? null,
      limit?.periodMs ?? null,
    ]);
    await this.query(this.flowSql.dropDefaultQueue, [queue]);
    return toQueueState({ ...rows[0]!, pending: 0, running: 0 });
  }

  /** Every queue with settings or with jobs pending or running, with those counts. */
  async queues(): Promise<QueueState[]> {
    return (await this.query<QueueRow>(this.flowSql.listQueues, [])).rows.map(toQueueState);
  }

  /**
   * Adds (or replaces) a recurring job: the maintenance leader adds one job
   * of `task` per tick of `expression`, each tick exactly once across every
   * supervisor. Five fields (`'*\/5 * * * *'`), six with seconds first, or
   * `@hourly`-style names. A replaced schedule starts again from now.
   */
  async schedule(name: string, expression: string, task: string, payload: unknown = {}, options: ScheduleOptions = {}): Promise<void> {
    checkText(name, 'name', -1, MAX_NAME_BYTES);
    cronOf(expression, options.timezone);
    const backfill = options.backfill ?? 1;
    checkInteger(backfill, 'backfill', -1, 1);
    if (backfill > MAX_BACKFILL) throw new ConfigError(`backfill must be at most ${MAX_BACKFILL} (got ${backfill})`);
    const [checkedTask, queue, data, priority, , maxAttempts] = toRow({ task, payload, ...options }, -1);
    await this.query(this.flowSql.saveSchedule, [name, expression, options.timezone ?? null, checkedTask, data, queue, priority, maxAttempts, backfill]);
  }

  /**
   * Adds one job of schedule `name` now, outside its ticks (its next tick
   * still comes as planned). Returns the job, or throws when there is no
   * such schedule.
   */
  async runSchedule(name: string): Promise<AddedJob> {
    const { rows } = await this.query<{ job_id: string }>(this.flowSql.runSchedule, [checkText(name, 'name', -1, MAX_NAME_BYTES)]);
    if (!rows[0]) throw new ConfigError(`there is no schedule named '${name}' (queue.schedules() lists them)`);
    return { id: rows[0].job_id, created: true };
  }

  /** Removes a schedule; returns whether it existed. Jobs it already added stay. */
  async unschedule(name: string): Promise<boolean> {
    return (await this.query(this.flowSql.deleteSchedule, [name])).rowCount === 1;
  }

  /** Every schedule, with its next run. */
  async schedules(): Promise<Schedule[]> {
    const { rows } = await this.query<ScheduleRow>(this.flowSql.listSchedules, []);
    const now = new Date();
    return rows.map((row) => ({
      name: row.name,
      expression: row.expression,
      task: row.task,
      payload: JSON.parse(row.payload) as unknown,
      ...withoutNull({ queue: row.queue, priority: row.priority, maxAttempts: row.max_attempts, timezone: row.timezone }),
      backfill: row.backfill,
      lastTick: row.last_tick,
      nextRun: nextTick(cronOf(row.expression, row.timezone), now),
    }));
  }

  /**
   * Applies the migrations this version ships to the Queue's schema, if any
   * are pending (a supervisor does this when it starts); returns the
   * versions applied. For a schema no supervisor has started on yet, such
   * as one a test suite keeps to itself.
   */
  async migrate(): Promise<number[]> {
    return migrate(await this.pool, this.schema, silentLogger());
  }

  /** Runs a statement on the Queue's pool, or on the caller's `client` (inside the caller's transaction). */
  private async query<R extends pg.QueryResultRow>(statement: pg.QueryConfig, values: unknown[], client?: QueryClient): Promise<pg.QueryResult<R>> {
    const executor = client ?? (await this.pool);
    try {
      return await executor.query<R>(this.pooler ? { text: statement.text } : statement, values);
    } catch (error) {
      if (!this.pooler && PREPARED_ELSEWHERE.test(String((error as Error).message))) {
        throw new Error(`${(error as Error).message}: the connection goes through a pooler in transaction mode (PgBouncer?); give the Queue pooler: true`, { cause: error });
      }
      if ((error as { code?: string }).code === UNDEFINED_TABLE) {
        throw new Error(
          `schema '${this.schema}' has no pg-supervisor tables yet (${(error as Error).message}): run '${migrateCommandFor(this.schema)}', or start a supervisor first (it migrates when it starts)`,
          { cause: error },
        );
      }
      throw client ? error : this.explain(error);
    }
  }

  /**
   * Closes the connection pool, unless it was passed in. An embedded server
   * this Queue started is stopped too, unless other processes still use it.
   */
  async close(): Promise<void> {
    await this.listenPool?.end();
    if (!this.ownsPool) return;
    const pool = await Promise.resolve(this.pool).catch(() => undefined);
    await pool?.end();
    await this.embedded?.close();
  }
}

interface QueueRow {
  queue: string;
  paused: boolean;
  concurrency: number | null;
  rate_limit: number | null;
  rate_period_ms: number | null;
  pending: number;
  running: number;
}

function toQueueState(row: QueueRow): QueueState {
  const rate = row.rate_limit === null || row.rate_period_ms === null ? null : { limit: row.rate_limit, periodMs: row.rate_period_ms };
  return { queue: row.queue, paused: row.paused, concurrency: row.concurrency, rate, pending: row.pending, running: row.running };
}

interface ScheduleRow {
  name: string;
  expression: string;
  timezone: string | null;
  task: string;
  payload: string;
  queue: string | null;
  priority: number | null;
  max_attempts: number | null;
  backfill: number;
  last_tick: Date;
}

/** The fields of `values` that are not null. */
function withoutNull<T extends Record<string, unknown>>(values: T): Partial<{ [K in keyof T]: NonNullable<T[K]> }> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null)) as Partial<{ [K in keyof T]: NonNullable<T[K]> }>;
}

/** What to say when no live supervisor runs `task`; `tasks` are those live supervisors run. */
function noRunnerMessage(task: string, tasks: string[]): string {
  const running = tasks.length === 0 ? 'no supervisor is running' : `live supervisors run ${tasks.map((t) => `'${t}'`).join(', ')}`;
  return `no live supervisor runs task '${task}' (${running}): the job waits until one does. Check the task name, or start a supervisor whose task module exports it`;
}
