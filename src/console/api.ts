/**
 * The console's JSON API (documented in the README): what the pages read,
 * and what scripts may use. Reads go through the Queue and a few overview
 * statements; every action is a Queue method, the same one the CLI uses.
 */
import type pg from 'pg';
import { ConfigError, type JobStatus } from '../config.js';
import { checkFilter } from '../queue/job-spec.js';
import { consoleStatements } from '../db/sql/console.js';
import type { JobFilter } from '../db/sql/job-filter.js';
import { producerStatements } from '../db/sql/producer.js';
import type { Queue } from '../queue/queue.js';
import { silentLogger, type Logger } from '../log.js';

/** What a handler answers: a status and a JSON body. */
export interface Reply {
  status: number;
  body: unknown;
}

export interface ApiRequest {
  method: string;
  /** The path's parts after /api/, decoded. */
  parts: string[];
  query: URLSearchParams;
  /** The parsed JSON body of a POST (an object), else {}. */
  body: Record<string, unknown>;
}

/** Jobs matching a filter are counted up to this many before a bulk action asks for confirmation. */
export const COUNT_UP_TO = 100_000;
/** The recent-throughput window of the overview, in seconds. */
const RECENT_SECONDS = 300;
const PAGE = 50;

export class ConsoleApi {
  private readonly sql: ReturnType<typeof consoleStatements>;
  private readonly producer: ReturnType<typeof producerStatements>;

  constructor(
    private readonly queue: Queue,
    private readonly pool: pg.Pool,
    private readonly allowActions: boolean,
    private readonly log: Logger = silentLogger(),
  ) {
    this.sql = consoleStatements(queue.schema);
    this.producer = producerStatements(queue.schema);
  }

  /** Whether the request changes something (and so needs actions allowed, and a same-origin JSON request). */
  static changes(method: string): boolean {
    return method === 'POST';
  }

  async handle(req: ApiRequest): Promise<Reply> {
    const [first, second, third] = req.parts;
    try {
      if (req.method === 'GET') {
        if (first === 'overview' && !second) return ok(await this.overview());
        if (first === 'jobs' && !second) return ok(await this.jobs(req.query));
        if (first === 'jobs' && second === 'count' && !third) return ok(await this.count(req.query));
        if (first === 'jobs' && second && !third) return this.job(second);
      } else if (req.method === 'POST') {
        if (!this.allowActions) {
          return { status: 403, body: { error: 'this console is read-only: start it with --console-allow-actions (or SUPERVISOR_CONSOLE_ALLOW_ACTIONS=true) to retry, cancel or delete jobs, pause queues and run schedules' } };
        }
        if (first === 'jobs' && second && third && !req.parts[3]) return ok(await this.jobAction(third, second === 'matching' ? filterOf(req.body, []) : [second]));
        if (first === 'queues' && second && (third === 'pause' || third === 'resume') && !req.parts[3]) {
          await this.queue[third](second);
          this.log.info({ action: third, queue: second }, `console: ${third} queue ${second}`);
          return ok({ queue: second, paused: third === 'pause' });
        }
        if (first === 'schedules' && second && third === 'run' && !req.parts[3]) {
          const job = await this.queue.runSchedule(second);
          this.log.info({ action: 'run', schedule: second, jobId: job.id }, `console: ran schedule ${second} now (job ${job.id})`);
          return ok(job);
        }
      }
      return { status: 404, body: { error: `no API ${req.method} /api/${req.parts.join('/')}; see the README's console section` } };
    } catch (error) {
      if (error instanceof ConfigError) return { status: 400, body: { error: error.message } };
      throw error;
    }
  }

  private async overview() {
    const [queues, activity, supervisors, schedules] = await Promise.all([
      this.queue.queues(),
      this.pool.query<{ queue: string; failed: number; succeeded_recently: number; failed_recently: number }>(this.sql.queueActivity, [RECENT_SECONDS]),
      this.pool.query(this.producer.listSupervisors),
      this.queue.schedules(),
    ]);
    const byQueue = new Map(activity.rows.map((row) => [row.queue, row]));
    const names = [...new Set([...queues.map((q) => q.queue), ...byQueue.keys()])].sort();
    return {
      recentSeconds: RECENT_SECONDS,
      allowActions: this.allowActions,
      queues: names.map((name) => {
        const state = queues.find((q) => q.queue === name);
        const recent = byQueue.get(name);
        return {
          queue: name,
          paused: state?.paused ?? false,
          concurrency: state?.concurrency ?? null,
          rate: state?.rate ?? null,
          pending: state?.pending ?? 0,
          running: state?.running ?? 0,
          failed: recent?.failed ?? 0,
          succeededRecently: recent?.succeeded_recently ?? 0,
          failedRecently: recent?.failed_recently ?? 0,
        };
      }),
      supervisors: supervisors.rows,
      schedules,
    };
  }

  /** A page of jobs, newest first; `next` is the `before` of the next page, null on the last. */
  private async jobs(query: URLSearchParams) {
    const limit = Number(query.get('limit') ?? PAGE);
    const before = query.get('before') ?? undefined;
    const jobs = await this.queue.listJobs({ ...filterOf(Object.fromEntries(query), ['limit', 'before']), limit: limit + 1, ...(before ? { before } : {}) });
    const page = jobs.slice(0, limit);
    return { jobs: page, next: jobs.length > limit ? page.at(-1)!.job_id : null };
  }

  /**
   * How many jobs match, or with `for` (retry, cancel, delete) how many of
   * them that action would change: the failed (or cancelled) ones, the
   * pending and running ones, or those not running.
   */
  private async count(query: URLSearchParams) {
    const filter = filterOf(Object.fromEntries(query), ['for']);
    const action = query.get('for');
    const count = (statusFilter: JobFilter) => this.queue.countJobs(statusFilter, COUNT_UP_TO);
    const only = (statuses: JobStatus[]) =>
      Promise.all(statuses.filter((s) => !filter.status || filter.status === s).map((status) => count({ ...filter, status }))).then((n) => n.reduce((a, b) => a + b, 0));
    let total: number;
    if (action === 'retry') total = await only(filter.status === 'cancelled' ? ['cancelled'] : ['failed']);
    else if (action === 'cancel') total = await only(['pending', 'running']);
    else if (action === 'delete') total = await only(['pending', 'success', 'failed', 'cancelled']);
    else if (action === null) total = await count(filter);
    else throw new ConfigError(`count's for is retry, cancel or delete (got '${action}')`);
    return { count: total, capped: total >= COUNT_UP_TO };
  }

  private async job(id: string): Promise<Reply> {
    if (!/^\d{1,19}$/.test(id)) return { status: 400, body: { error: `a job id is a whole number (got '${id}')` } };
    const job = await this.queue.getJob(id);
    return job ? ok(job) : { status: 404, body: { error: `no job ${id}` } };
  }

  private async jobAction(action: string, target: string[] | JobFilter) {
    if (!Array.isArray(target) && action !== 'retry' && Object.keys(target).length === 0) {
      throw new ConfigError(`to ${action} every matching job, give a filter (status, queue, task or search): an empty one would match the whole table`);
    }
    let ids: string[];
    if (action === 'retry') ids = await this.queue.retry(Array.isArray(target) ? { ids: target } : target);
    else if (action === 'cancel') ids = await this.queue.cancel(target);
    else if (action === 'delete') ids = await this.queue.deleteJobs(target);
    else throw new ConfigError(`unknown action '${action}': retry, cancel or delete`);
    this.log.info({ action, target, count: ids.length }, `console: ${action} ${ids.length} job${ids.length === 1 ? '' : 's'}`);
    return { action, count: ids.length, ids: ids.slice(0, 1000) };
  }
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

/**
 * The filter fields of a query or a body: status, queue, task, search
 * (empty ones left out). Any other key but `allowed` is refused: a
 * misspelt field must never widen a bulk action to every job.
 */
function filterOf(source: Record<string, unknown>, allowed: string[]): JobFilter {
  const unknown = Object.keys(source).filter((key) => !['status', 'queue', 'task', 'search', ...allowed].includes(key));
  if (unknown.length > 0) throw new ConfigError(`unknown filter field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: a filter takes status, queue, task and search`);
  const filter: JobFilter = {};
  for (const key of ['status', 'queue', 'task', 'search'] as const) {
    const value = source[key];
    if (typeof value === 'string' && value !== '') (filter as Record<string, string>)[key] = value;
  }
  return checkFilter(filter); // the Queue's own check: a known status, names PostgreSQL can hold
}
