/**
 * The console's JSON API (documented in the README): what the pages read,
 * and what scripts may use. Reads go through the Queue and a few overview
 * statements; every action is a Queue method, the same one the CLI uses.
 */
import type pg from 'pg';
import { ConfigError, JOB_STATUSES, type JobStatus } from '../config.js';
import { consoleStatements } from '../db/sql/console.js';
import type { JobFilter } from '../db/sql/job-filter.js';
import { producerStatements } from '../db/sql/producer.js';
import type { Queue } from '../queue/queue.js';

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
        if (!this.allowActions) return { status: 403, body: { error: 'this console is read-only: start it with --console-allow-actions (or SUPERVISOR_CONSOLE_ALLOW_ACTIONS=true) to act on jobs' } };
        if (first === 'jobs' && second && third && !req.parts[3]) return ok(await this.jobAction(third, second === 'matching' ? filterOf(req.body) : [second]));
        if (first === 'queues' && second && (third === 'pause' || third === 'resume') && !req.parts[3]) {
          await this.queue[third](second);
          return ok({ queue: second, paused: third === 'pause' });
        }
        if (first === 'schedules' && second && third === 'run' && !req.parts[3]) return ok(await this.queue.runSchedule(second));
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
    const jobs = await this.queue.listJobs({ ...filterOf(Object.fromEntries(query)), limit: limit + 1, ...(before ? { before } : {}) });
    const page = jobs.slice(0, limit);
    return { jobs: page, next: jobs.length > limit ? page.at(-1)!.job_id : null };
  }

  private async count(query: URLSearchParams) {
    const count = await this.queue.countJobs(filterOf(Object.fromEntries(query)), COUNT_UP_TO);
    return { count, capped: count >= COUNT_UP_TO };
  }

  private async job(id: string): Promise<Reply> {
    if (!/^\d{1,19}$/.test(id)) return { status: 400, body: { error: `a job id is a whole number (got '${id}')` } };
    const job = await this.queue.getJob(id);
    return job ? ok(job) : { status: 404, body: { error: `no job ${id}` } };
  }

  private async jobAction(action: string, target: string[] | JobFilter) {
    let ids: string[];
    if (action === 'retry') ids = await this.queue.retry(Array.isArray(target) ? { ids: target } : target);
    else if (action === 'cancel') ids = await this.queue.cancel(target);
    else if (action === 'delete') ids = await this.queue.deleteJobs(target);
    else throw new ConfigError(`unknown action '${action}': retry, cancel or delete`);
    return { action, count: ids.length, ids: ids.slice(0, 1000) };
  }
}

function ok(body: unknown): Reply {
  return { status: 200, body };
}

/** The filter fields of a query or a body: status, queue, task, search (empty ones left out). */
function filterOf(source: Record<string, unknown>): JobFilter {
  const filter: JobFilter = {};
  const text = (key: string) => (typeof source[key] === 'string' && source[key] !== '' ? (source[key] as string) : undefined);
  const status = text('status');
  if (status !== undefined) {
    if (!JOB_STATUSES.includes(status as JobStatus)) throw new ConfigError(`status must be one of ${JOB_STATUSES.join(', ')} (got '${status}')`);
    filter.status = status as JobStatus;
  }
  for (const key of ['queue', 'task', 'search'] as const) {
    const value = text(key);
    if (value !== undefined) filter[key] = value;
  }
  return filter;
}
