/** Statements of the producer API and the CLI: add, retry, cancel, list. */
import { JOB_DEFAULTS } from '../../config.js';
import { GATED_QUEUES } from './supervisor.js';
import { finishedChannel, statement } from './statement.js';

/** The columns of one job as Queue.getJob returns it. */
const JOB_DETAILS = `job_id, task, queue, job_status, priority, attempts, max_attempts, run_at, locked_by, locked_until,
  last_error, job_key, timeout_ms, concurrency_key, concurrency_limit, created_at, started_at, updated_at,
  finished_at, job_data::text as job_data, result, progress, awaited, trace_context, errors`;

/**
 * A job's queue, priority and attempts: its own, else its task's defaults
 * (task_defaults, declared by the task module), else the table's.
 */
export const RESOLVED = (given: { queue: string; priority: string; maxAttempts: string }) => `
  coalesce(${given.queue}, d.queue, '${JOB_DEFAULTS.queue}') as queue,
  coalesce(${given.priority}, d.priority, ${JOB_DEFAULTS.priority}) as priority,
  coalesce(${given.maxAttempts}, d.max_attempts, ${JOB_DEFAULTS.maxAttempts}) as max_attempts`;

export function producerStatements(schema: string) {
  return {
    /**
     * Adds any number of jobs in one round trip: one array per column.
     * A job whose job_key already exists is skipped (de-duplication).
     * $11: the adding code's trace context (one for every job), or null.
     * Rows are inserted, and so returned, in the order given (the join
     * with the task defaults could reorder them).
     */
    insertJobs: statement(
      schema,
      'insert-jobs',
      `insert into $S.jobs (task, queue, job_data, priority, run_at, max_attempts, job_key, timeout_ms,
                            concurrency_key, concurrency_limit, trace_context)
       select t.task, r.queue, t.job_data::jsonb, r.priority, coalesce(t.run_at, now()), r.max_attempts, t.job_key,
              t.timeout_ms, t.concurrency_key, t.concurrency_limit, $11::jsonb
       from unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $7::text[], $8::int[],
                   $9::text[], $10::int[]) with ordinality
         as t(task, queue, job_data, priority, run_at, max_attempts, job_key, timeout_ms, concurrency_key, concurrency_limit, n)
         left join $S.task_defaults d on d.task = t.task,
         lateral (select ${RESOLVED({ queue: 't.queue', priority: 't.priority', maxAttempts: 't.max_attempts' })}) r
       order by t.n
       on conflict (job_key) where job_key is not null do nothing
       returning job_id, job_key`,
    ),
    /**
     * Adds one job: the same as insert-jobs for a single row, without the
     * arrays, which makes `Queue.add` about 0.1 ms faster per call.
     *
     * A due job without a job_key or concurrency_key, in a queue neither
     * paused nor limited, goes straight to a supervisor that offers a free
     * slot (migrations/003_hand_off.sql) and knows its task and
     * queue: the job is inserted already claimed for that supervisor
     * (attempt 1, leased), the offer is used up, and the job travels on the
     * offer's channel in the form a claim returns. That saves the
     * supervisor the claim round trip after a notification, and the
     * transaction-local flag spares every supervisor the notification. An
     * offer whose supervisor has not beaten its heartbeat for half a lease
     * is passed over: its supervisor may have died. Offers a producer is
     * taking are skipped, never waited for. The lease starts at the insert,
     * so this runs in a transaction of its own (Queue.add's pool), never
     * inside a caller's transaction. Notifications are limited to 8,000
     * bytes, so larger jobs are left to be claimed.
     */
    insertJob: statement(
      schema,
      'insert-job',
      `with spec as materialized (
         select $1::text as task, $3::text as job_data, coalesce($5::timestamptz, now()) as run_at, $7::text as job_key,
                $8::int as timeout_ms, $9::text as concurrency_key, $10::int as concurrency_limit, $11::jsonb as trace_context,
                ${RESOLVED({ queue: '$2::text', priority: '$4::int', maxAttempts: '$6::int' })}
         from (values (true)) as one (x) left join $S.task_defaults d on d.task = $1::text),
       offer as (
         delete from $S.offers o
         where o.supervisor_id = (
           select f.supervisor_id from spec, $S.offers f join $S.supervisors s using (supervisor_id)
           where spec.job_key is null and spec.concurrency_key is null and spec.run_at <= now()
             and spec.task = any(s.tasks) and (s.queues = '{}' or spec.queue = any(s.queues))
             and spec.queue <> all(${GATED_QUEUES})
             and s.heartbeat_at > now() - f.lease_ms / 2 * interval '1 millisecond'
             and octet_length(spec.job_data) <= 7000
             and octet_length(json_build_object('task', spec.task, 'queue', spec.queue, 'payload', spec.job_data::jsonb::text,
                                                'trace_context', spec.trace_context::text)::text) <= 7800
           limit 1
           for update of f skip locked)
         returning o.channel, o.supervisor_id, o.lease_ms),
       added as (
         insert into $S.jobs (task, queue, job_data, priority, run_at, max_attempts, job_key, timeout_ms,
                              concurrency_key, concurrency_limit, trace_context, job_status, attempts, locked_by, locked_until, started_at)
         select spec.task, spec.queue, spec.job_data::jsonb, spec.priority, spec.run_at, spec.max_attempts, spec.job_key,
                spec.timeout_ms, spec.concurrency_key, spec.concurrency_limit, spec.trace_context,
                case when offer.supervisor_id is null then 'pending' else 'running' end,
                case when offer.supervisor_id is null then 0 else 1 end,
                offer.supervisor_id, now() + offer.lease_ms * interval '1 millisecond',
                case when offer.supervisor_id is null then null else now() end
         from spec left join offer on true
         on conflict (job_key) where job_key is not null do nothing
         returning job_id, task, queue, job_data, attempts, max_attempts, timeout_ms, trace_context)
       select a.job_id,
         (select set_config('pg_supervisor.handed_off', 'on', true) || pg_notify(offer.channel, json_build_object(
                   'id', a.job_id::text, 'task', a.task, 'queue', a.queue, 'payload', a.job_data::text,
                   'attempt', a.attempts, 'max_attempts', a.max_attempts, 'timeout_ms', a.timeout_ms, 'lag_s', 0,
                   'trace_context', a.trace_context::text)::text)::text
          from offer) as handed_off
       from added a`,
    ),
    jobIdsByKey: statement(
      schema,
      'job-ids-by-key',
      `select job_id, job_key from $S.jobs where job_key = any($1::text[])`,
    ),
    /** Every column of one job. */
    getJob: statement(schema, 'get-job', `select ${JOB_DETAILS} from $S.jobs where job_id = $1::bigint`),
    /**
     * Marks job $1 as awaited, so that its end is told on the finished
     * channel (migrations/010_waiting_progress_tracing.sql), and returns it.
     * Run after LISTEN: an end committed before this update shows in the row
     * returned, one committed after it is notified.
     */
    awaitJob: statement(
      schema,
      'await-job',
      `update $S.jobs set awaited = true where job_id = $1::bigint returning ${JOB_DETAILS}`,
    ),
    /** Where awaited jobs' ends are told. Not prepared: LISTEN takes no parameters. */
    listenFinished: { name: `${schema}.listen-finished`, text: `listen "${finishedChannel(schema)}"` },
    unlistenFinished: { name: `${schema}.unlisten-finished`, text: `unlisten "${finishedChannel(schema)}"` },
    /** Tasks that live supervisors (heartbeat within their lease) can run. */
    liveTasks: statement(
      schema,
      'live-tasks',
      `select distinct unnest(tasks) as task from $S.supervisors where heartbeat_at > now() - lease_ms * interval '1 millisecond'`,
    ),
    /** Pending jobs whose task no live supervisor runs, by task and queue. */
    jobsWithoutRunner: statement(
      schema,
      'jobs-without-runner',
      `select task, queue, count(*)::int as count from $S.jobs
       where job_status = 'pending' and task <> all(array(
         select unnest(tasks) from $S.supervisors where heartbeat_at > now() - lease_ms * interval '1 millisecond'))
       group by task, queue order by count(*) desc, task, queue`,
    ),
    countJobs: statement(
      schema,
      'count-jobs',
      `select queue, job_status, count(*)::int as count from $S.jobs group by queue, job_status order by queue, job_status`,
    ),
    listSupervisors: statement(
      schema,
      'list-supervisors',
      `select s.supervisor_id, host, pid, threads, concurrency, queues, tasks, lease_ms, started_at, heartbeat_at,
              extract(epoch from now() - heartbeat_at)::float8 as heartbeat_age_s,
              exists (select 1 from $S.leader l where l.supervisor_id = s.supervisor_id and l.expires_at > now()) as leads
       from $S.supervisors s order by started_at`,
    ),
  };
}
