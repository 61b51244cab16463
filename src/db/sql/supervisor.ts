/** Statements of a running supervisor: claim, complete, heartbeat, recovery. */
import { controlChannel, joinsBatch, statement, type Statement } from './statement.js';

/** Columns a claim returns, as the supervisor dispatches them. */
/**
 * Queues the plain claim and the hand-off leave to claim_gated()
 * (migrations/007_flow_control.sql): paused ones, and those with a limit.
 * The queues table is tiny, and read once per statement.
 */
export const GATED_QUEUES = `array(select g.queue from $S.queues g
  where g.paused or g.concurrency is not null or g.rate_limit is not null)`;

/**
 * `history` (jobs.errors) with one more entry: `error` at attempt
 * `attempt`, now, on supervisor `by`. The 23 newest earlier entries are
 * kept (24 in all), so a job re-queued by hand again and again cannot grow
 * without end.
 */
export const APPEND_ERROR = (history: string, attempt: string, error: string, by: string) =>
  `jsonb_path_query_array(coalesce(${history}, '[]'), '$[last - 22 to last]')
     || jsonb_build_array(jsonb_build_object('attempt', ${attempt}, 'at', now(), 'by', ${by}, 'error', ${error}))`;

const CLAIMED = `j.job_id as id, j.task, j.queue, j.job_data::text as payload, j.attempts as attempt,
  j.max_attempts, j.timeout_ms, extract(epoch from now() - j.run_at)::float8 as lag_s, j.trace_context::text as trace_context`;

/**
 * Claims up to `limit` due jobs of the tasks this supervisor knows ($1) for
 * supervisor $3, with a lease of $4 ms. One short statement: no
 * transaction stays open while the jobs run.
 *
 * Jobs with a concurrency key, and jobs of paused or limited queues, are
 * left to the gated claim (claim_gated, migrations/007_flow_control.sql).
 * The queue is compared as `queue || ''` so that the planner estimates the
 * test without the column's statistics: on `queue` itself, a generic plan
 * took it to exclude nearly every row (one queue in the table) and chose
 * a sequential scan and a sort over the index.
 *
 * Jobs are taken in (priority, run_at, job_id) order. The recursive CTE
 * finds the first pending job of each priority that has one (one index
 * probe each), and each priority is then read as one index range from
 * that job to the first job not yet due. Two walks are avoided:
 * - past every job scheduled for later, as a single scan of the whole
 *   index in that order would do (a million scheduled jobs or retries
 *   waiting out their backoff, read on every claim);
 * - past the dead entries at the front of each priority a second time:
 *   every claimed job leaves one there until a vacuum removes it, and the
 *   probe has already walked them, so the range starts where it stopped.
 * There is no outer ORDER BY on purpose: the priorities come in
 * ascending order and each range in (run_at, job_id) order, so the
 * nested loop already yields jobs in claim order, and the LIMIT stops it
 * before a later priority is read or locked (a sort would first lock up
 * to `limit` jobs of every priority). test/plans.test.ts checks the order
 * and the plan.
 *
 * The attempt count stops at the largest int rather than overflow: a row
 * set to that by hand runs (its last attempt), instead of failing every
 * claim that reaches it.
 *
 * The ids go through `= any(array(...))` so that the update finds its
 * rows by primary key; joined instead, a generic plan on an analyzed
 * table chose a hash join over a sequential scan of the whole table for
 * every claim.
 */
function claimUpdate(queues: string[], limit: string): string {
  // With no --queues the filter is left out.
  const queueFilter = queues.length > 0 ? 'and queue = any($5::text[])' : '';
  return `update $S.jobs j
    set job_status = 'running', attempts = least(j.attempts, 2147483646) + 1, locked_by = $3::text,
        locked_until = now() + $4::int * interval '1 millisecond', started_at = now(), updated_at = now()
    where j.job_id = any(array(
      with recursive heads(priority, run_at, job_id) as (
        (select priority, run_at, job_id from $S.jobs where job_status = 'pending' and concurrency_key is null
         order by priority, run_at, job_id limit 1)
        union all
        select next.* from heads, lateral (
          select p.priority, p.run_at, p.job_id from $S.jobs p
          where p.job_status = 'pending' and p.concurrency_key is null and p.priority > heads.priority
          order by p.priority, p.run_at, p.job_id limit 1) next
      )
      select due.job_id from heads, lateral (
        select job_id, run_at from $S.jobs
        where job_status = 'pending' and concurrency_key is null and priority = heads.priority
          and (run_at, job_id) >= (heads.run_at, heads.job_id) and run_at <= now()
          and task = any($1::text[]) ${queueFilter} and queue || '' <> all(${GATED_QUEUES})
        order by run_at, job_id
        limit ${limit}
        for update skip locked) due
      limit ${limit}))
    returning ${CLAIMED}`;
}

export function supervisorStatements(schema: string, queues: string[]) {
  return {
    claimJobs: statement(schema, queues.length > 0 ? 'claim-jobs-in-queues' : 'claim-jobs', claimUpdate(queues, '$2::int')),
    /**
     * The claim of a supervisor whose offer may stand (see insert-job in
     * producer.ts): $2 counts only the slots not offered. The offer, unless
     * a producer is taking it right now, is locked and its slot may be
     * claimed too; an offer whose slot was claimed is withdrawn. One row
     * comes back even when no job is claimed (its job columns null), and
     * every row says whether the offer still stands afterwards. A producer
     * that took the offer keeps it standing until its commit, and its job
     * then arrives on the offer's channel.
     */
    claimJobsWithOffer: statement(
      schema,
      queues.length > 0 ? 'claim-jobs-with-offer-in-queues' : 'claim-jobs-with-offer',
      `with mine as materialized (
         select supervisor_id from $S.offers where supervisor_id = $3::text for update skip locked),
       claimed as (${claimUpdate(queues, '$2::int + (select count(*)::int from mine)')}),
       withdrawn as (
         delete from $S.offers o using mine
         where o.supervisor_id = mine.supervisor_id and (select count(*) from claimed) > $2::int
         returning 1)
       select c.*,
         exists (select 1 from $S.offers where supervisor_id = $3::text) and not exists (select 1 from withdrawn) as offer_stands
       from (values (true)) as one (x) left join claimed c on true`,
    ),
    /** Offers one free slot of supervisor $1, whose hand-offs go to channel $2 with a lease of $3 ms. */
    placeOffer: statement(
      schema,
      'place-offer',
      `insert into $S.offers (supervisor_id, channel, lease_ms) values ($1::text, $2::text, $3::int)
       on conflict (supervisor_id) do nothing`,
    ),
    /** Takes back the offer of supervisor $1, waiting for a producer that is taking it to finish. */
    withdrawOffer: statement(schema, 'withdraw-offer', `delete from $S.offers where supervisor_id = $1::text`),
    /**
     * Writes a batch of job results. Ids, attempts, kinds and delays travel
     * as comma-separated text, which costs less to send than array
     * parameters; errors (any text) as a text array. Kinds:
     * - success;
     * - error: pending again after $5 ms while attempts remain, else failed;
     * - requeue: pending again, the attempt counted (stopped by shutdown);
     * - release: pending again, the attempt not counted (never started, or
     *   killed with its thread through no fault of its own);
     * - snooze: pending again after $5 ms, the attempt not counted (the
     *   handler asked to run later).
     * Requeued and released jobs keep their run_at, and so their place in
     * line: with a backlog they run next, not after it. $7: what each
     * succeeded job returned, as JSON text; null for the whole batch when
     * none returned anything (multi-argument unnest pads it with nulls), so
     * jobs that return nothing send nothing. $8: each job's last
     * ctx.progress() report, likewise (the progress writer only writes
     * while a job runs, so this is the one that stays).
     * Fenced: only rows this supervisor ($6) still holds, at the attempt it
     * ran, change; the ids returned tell which results applied. Every way
     * out of running clears locked_by, so the fence needs no status test.
     * Runs on the write connection (see Database.writePool): with statistics taken
     * while no job ran, the planner would otherwise pick a nested loop
     * that is quadratic in the batch size.
     */
    completeJobs: joinsBatch(statement(
      schema,
      'complete-jobs',
      `update $S.jobs j
       set job_status = case when o.kind = 'success' then 'success'
                             when o.kind = 'error' and j.attempts >= j.max_attempts then 'failed'
                             else 'pending' end,
           attempts = case when o.kind in ('release', 'snooze') then j.attempts - 1 else j.attempts end,
           last_error = coalesce(o.error, j.last_error),
           errors = case when o.error is null then j.errors else ${APPEND_ERROR('j.errors', 'j.attempts', 'o.error', 'j.locked_by')} end,
           run_at = case when (o.kind = 'error' and j.attempts < j.max_attempts) or o.kind = 'snooze'
                           then now() + o.retry_delay_ms * interval '1 millisecond'
                         else j.run_at end,
           finished_at = case when o.kind = 'success' or (o.kind = 'error' and j.attempts >= j.max_attempts)
                              then now() end,
           result = case when o.kind = 'success' then o.result::jsonb else j.result end,
           progress = coalesce(o.progress::jsonb, j.progress),
           locked_by = null, locked_until = null, updated_at = now()
       from unnest(string_to_array($1, ',')::bigint[], string_to_array($2, ',')::int[], string_to_array($3, ','),
                   $4::text[], string_to_array($5, ',')::int[], $7::text[], $8::text[])
         as o(job_id, attempt, kind, error, retry_delay_ms, result, progress)
       where j.job_id = any(string_to_array($1, ',')::bigint[]) and j.job_id = o.job_id
         and j.locked_by = $6::text and j.attempts = o.attempt
       returning j.job_id, j.job_status`,
    )),
    /**
     * The heartbeat: extends the lease of the jobs this supervisor ($1)
     * holds ($2 ids at $3 attempts) to now + $4 ms. Jobs it does not know it
     * holds (a claim whose reply was lost) are left to expire and be
     * recovered. Returns the ids still held. Runs on the write connection.
     */
    extendLeases: joinsBatch(statement(
      schema,
      'extend-leases',
      `update $S.jobs j
       set locked_until = now() + $4::int * interval '1 millisecond'
       from unnest($2::bigint[], $3::int[]) as h(job_id, attempt)
       where j.job_id = any($2::bigint[]) and j.job_id = h.job_id
         and j.locked_by = $1::text and j.attempts = h.attempt
       returning j.job_id`,
    )),
    /**
     * Stores the latest ctx.progress() reports: $1 ids, $2 attempts, $3
     * values as JSON text. Only while the attempt that made them runs: a
     * report that arrives after its job's outcome was written is dropped,
     * for the outcome carried the job's last report (complete-jobs). Runs
     * on the write connection.
     */
    writeProgress: joinsBatch(statement(
      schema,
      'write-progress',
      `update $S.jobs j
       set progress = p.value::jsonb
       from unnest($1::bigint[], $2::int[], $3::text[]) as p(job_id, attempt, value)
       where j.job_id = any($1::bigint[]) and j.job_id = p.job_id and j.attempts = p.attempt and j.job_status = 'running'`,
    )),
    /** Registers the supervisor or refreshes its heartbeat (re-creating the row if recovery removed it). */
    touchSupervisor: statement(
      schema,
      'touch-supervisor',
      `insert into $S.supervisors (supervisor_id, host, pid, threads, concurrency, queues, tasks, lease_ms)
       values ($1, $2, $3, $4, $5, $6::text[], $7::text[], $8::int)
       on conflict (supervisor_id) do update set heartbeat_at = now()`,
    ),
    /**
     * Recovery, one supervisor at a time (a transaction-scoped advisory lock
     * taken with try, so others skip rather than wait): jobs whose lease
     * expired go back to pending, or to failed when out of attempts, with
     * last_error naming the supervisor that lost them; supervisors rows
     * silent for longer than $1 ms are removed. A recovered job keeps its
     * run_at, and so its place in line ahead of any backlog.
     */
    recoverExpired: statement(
      schema,
      'recover-expired',
      `with lock as materialized (
         select pg_try_advisory_xact_lock(hashtextextended('pg-supervisor:recover:' || $2::text, 0)) as held),
       expired as (
         select j.job_id, j.locked_by from $S.jobs j, lock
         where lock.held and j.job_status = 'running' and j.locked_until < now()
         for update of j skip locked),
       gone as (
         delete from $S.supervisors s using lock
         where lock.held and s.heartbeat_at < now() - $1::int * interval '1 millisecond'
         returning s.supervisor_id)
       update $S.jobs j
       set job_status = case when j.attempts >= j.max_attempts then 'failed' else 'pending' end,
           last_error = format('lease expired: supervisor %s stopped renewing it during attempt %s', j.locked_by, j.attempts),
           errors = ${APPEND_ERROR('j.errors', 'j.attempts', "format('lease expired: supervisor %s stopped renewing it during attempt %s', j.locked_by, j.attempts)", 'j.locked_by')},
           finished_at = case when j.attempts >= j.max_attempts then now() end,
           locked_by = null, locked_until = null, updated_at = now()
       where j.job_id = any(array(select job_id from expired))
       returning j.job_id, j.task, j.queue, j.job_status,
         (select array_agg(distinct locked_by) from expired) as lost_by,
         (select count(*) from gone)::int as supervisors_removed`,
    ),
    /**
     * Whether supervisor $2 has work left (Supervisor.whenIdle): a due
     * pending job of one of its tasks ($1), in one of its queues ($3, empty
     * for all) that is not paused, or a job it holds.
     */
    workLeft: statement(
      schema,
      'work-left',
      `select exists (
         select 1 from $S.jobs
         where (job_status = 'pending' and run_at <= now() and task = any($1::text[])
                and (cardinality($3::text[]) = 0 or queue = any($3::text[]))
                and queue <> all(array(select queue from $S.queues where paused)))
            or (job_status = 'running' and locked_by = $2::text)) as left`,
    ),
    deregister: statement(schema, 'deregister-supervisor', `delete from $S.supervisors where supervisor_id = $1`),
    /**
     * Notifies channel $1 (a supervisor's own) with 'probe': the listening
     * connection must hear it, or it does not really listen (a pooler in
     * transaction mode gives LISTEN's session to others).
     */
    probeListen: statement(schema, 'probe-listen', `select pg_notify($1::text, 'probe')`),
    /** A round trip on the listening connection, after which every earlier notification has arrived. */
    ping: statement(schema, 'ping', `select 1`),
    /** The channel the jobs triggers notify (migrations/001_jobs.sql). Not prepared: LISTEN takes no parameters. */
    listen: { name: `${schema}.listen`, text: `listen "${schema}_jobs"` },
    /** The control channel: queue settings changed, a job with a concurrency key added, jobs cancelled. */
    listenControl: { name: `${schema}.listen-control`, text: `listen "${controlChannel(schema)}"` },
    /** Listens on a supervisor's own channel, where jobs handed to its offer arrive. Not prepared either. */
    listenOffers: (channel: string): Statement => ({ name: `${schema}.listen-offers`, text: `listen "${channel}"` }),
  };
}
