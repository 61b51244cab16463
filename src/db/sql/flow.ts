/**
 * Statements of flow control and scheduling (migrations/007_flow_control.sql):
 * queue settings (pause, limits), the gated claim, cron schedules and the
 * defaults task modules declare.
 */
import { RESOLVED } from './producer.js';
import { statement } from './statement.js';

export function flowStatements(schema: string) {
  return {
    /**
     * Changes a queue's settings, creating its row: $2 paused (null keeps
     * it); $3 whether to set the concurrency limit to $4 (null: none); $5
     * whether to set the rate limit to $6 jobs per $7 ms (null: none).
     */
    setQueue: statement(
      schema,
      'set-queue',
      `insert into $S.queues as q (queue, paused, concurrency, rate_limit, rate_period_ms)
       values ($1::text, coalesce($2::boolean, false), case when $3::boolean then $4::int end,
               case when $5::boolean then $6::int end, case when $5::boolean then $7::int end)
       on conflict (queue) do update set
         paused = coalesce($2::boolean, q.paused),
         concurrency = case when $3::boolean then $4::int else q.concurrency end,
         rate_limit = case when $5::boolean then $6::int else q.rate_limit end,
         rate_period_ms = case when $5::boolean then $7::int else q.rate_period_ms end,
         updated_at = now()
       returning queue, paused, concurrency, rate_limit, rate_period_ms`,
    ),
    /** Removes the settings of queue $1 when they are all defaults (resumed, no limit): such a queue needs no row. */
    dropDefaultQueue: statement(
      schema,
      'drop-default-queue',
      `delete from $S.queues where queue = $1::text and not paused and concurrency is null and rate_limit is null`,
    ),
    /**
     * Every queue with settings, and every queue with jobs not finished,
     * with those jobs' counts. Pending and running jobs are read apart, each
     * from its own partial index: `job_status in (...)` matches neither
     * index's predicate, and scanned the whole table (a second on ten
     * million finished jobs).
     */
    listQueues: statement(
      schema,
      'list-queues',
      `with counts as (
         select queue, count(*) filter (where status = 'pending')::int as pending,
                count(*) filter (where status = 'running')::int as running
         from (select queue, 'pending' as status from $S.jobs where job_status = 'pending'
               union all
               select queue, 'running' from $S.jobs where job_status = 'running') live
         group by queue)
       select coalesce(q.queue, c.queue) as queue, coalesce(q.paused, false) as paused, q.concurrency,
              q.rate_limit, q.rate_period_ms, coalesce(c.pending, 0) as pending, coalesce(c.running, 0) as running
       from $S.queues q full join counts c on c.queue = q.queue
       order by 1`,
    ),
    /**
     * Whether this supervisor needs the gated claim: a limited queue it
     * serves ($1, empty for every queue), or a job with a concurrency key
     * waiting.
     */
    gates: statement(
      schema,
      'gates',
      `select exists (select 1 from $S.queues s
                      where not s.paused and (s.concurrency is not null or s.rate_limit is not null)
                        and (cardinality($1::text[]) = 0 or s.queue = any($1::text[]))) as limited,
              exists (select 1 from $S.jobs where job_status = 'pending' and concurrency_key is not null) as keyed`,
    ),
    /**
     * Claims up to $2 jobs of limited queues and with concurrency keys (see
     * claim_gated in the migration). The trace context, which a claim never
     * changes, is read beside: a job added after the statement began is
     * not in its snapshot and runs without one.
     */
    claimGated: statement(
      schema,
      'claim-gated',
      `select g.id::text, g.task, g.queue, g.payload, g.attempt, g.max_attempts, g.timeout_ms, g.lag_s,
         (select j.trace_context::text from $S.jobs j where j.job_id = g.id) as trace_context
       from $S.claim_gated($1::text[], $2::int, $3::text, $4::int, $5::text[]) g`,
    ),
    /** Adds or replaces a schedule; a replaced one starts again from now (no backfill of the old expression). */
    saveSchedule: statement(
      schema,
      'save-schedule',
      `insert into $S.schedules as s (name, expression, timezone, task, payload, queue, priority, max_attempts, backfill)
       values ($1::text, $2::text, $3::text, $4::text, $5::text::jsonb, $6::text, $7::int, $8::int, $9::int)
       on conflict (name) do update set
         expression = excluded.expression, timezone = excluded.timezone, task = excluded.task,
         payload = excluded.payload, queue = excluded.queue, priority = excluded.priority,
         max_attempts = excluded.max_attempts, backfill = excluded.backfill,
         last_tick = date_trunc('milliseconds', now()), updated_at = now()`,
    ),
    deleteSchedule: statement(schema, 'delete-schedule', `delete from $S.schedules where name = $1::text returning name`),
    listSchedules: statement(
      schema,
      'list-schedules',
      `select name, expression, timezone, task, payload::text as payload, queue, priority, max_attempts, backfill,
              last_tick, created_at
       from $S.schedules order by name`,
    ),
    /**
     * Adds the jobs of schedule $1 for the ticks $2 (ascending), each with
     * the job key 'cron:<name>:<tick>', due at its tick, and moves
     * last_tick to the newest. Only while last_tick is still $3 (the value
     * the caller read), so a tick is never added twice; the job key makes
     * sure of it even then. Returns the ids added.
     */
    fireSchedule: statement(
      schema,
      'fire-schedule',
      `with moved as (
         update $S.schedules set last_tick = ($2::timestamptz[])[cardinality($2::timestamptz[])]
         where name = $1::text and last_tick = $3::timestamptz
         returning name, task, payload, queue, priority, max_attempts)
       insert into $S.jobs (task, queue, job_data, priority, max_attempts, job_key, run_at)
       select m.task, r.queue, m.payload, r.priority, r.max_attempts,
              'cron:' || m.name || ':' || to_char(tick at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), tick
       from moved m left join $S.task_defaults d on d.task = m.task,
         lateral (select ${RESOLVED({ queue: 'm.queue', priority: 'm.priority', maxAttempts: 'm.max_attempts' })}) r,
         unnest($2::timestamptz[]) as tick
       on conflict (job_key) where job_key is not null do nothing
       returning job_id`,
    ),
    /**
     * Adds one job of schedule $1 now, outside its ticks (`cron run`): the
     * schedule's task, payload and settings, with the job key
     * 'cron:<name>:run:<now>' so it never collides with a tick's. Its
     * ticks are untouched. No row when there is no such schedule.
     */
    runSchedule: statement(
      schema,
      'run-schedule',
      `insert into $S.jobs (task, queue, job_data, priority, max_attempts, job_key)
       select m.task, r.queue, m.payload, r.priority, r.max_attempts,
              'cron:' || m.name || ':run:' || to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
       from $S.schedules m left join $S.task_defaults d on d.task = m.task,
         lateral (select ${RESOLVED({ queue: 'm.queue', priority: 'm.priority', maxAttempts: 'm.max_attempts' })}) r
       where m.name = $1::text
       returning job_id`,
    ),
    /** Records the defaults a task module declares ($1 tasks; $2, $3, $4 their queue, priority, attempts or nulls). */
    saveTaskDefaults: statement(
      schema,
      'save-task-defaults',
      `insert into $S.task_defaults as d (task, queue, priority, max_attempts)
       select * from unnest($1::text[], $2::text[], $3::int[], $4::int[])
       on conflict (task) do update set queue = excluded.queue, priority = excluded.priority,
         max_attempts = excluded.max_attempts, updated_at = now()
       where (d.queue, d.priority, d.max_attempts) is distinct from (excluded.queue, excluded.priority, excluded.max_attempts)`,
    ),
  };
}
