/** Statements of a running supervisor: claim, complete, register. */
import { statement } from './statement.js';

/** Columns a claim returns, as the supervisor dispatches them. */
const CLAIMED = `j.job_id as id, j.task, j.queue, j.job_data::text as payload, j.attempts as attempt,
  j.max_attempts, (extract(epoch from j.run_at) * 1000)::float8 as run_at_ms`;

export function supervisorStatements(schema: string, queues: string[]) {
  // With no --queues the filter is left out, so the claim walks the partial
  // index in (priority, run_at, job_id) order and stops after $2 rows.
  const queueFilter = queues.length > 0 ? 'and queue = any($5::text[])' : '';
  return {
    /**
     * Claims up to $2 due jobs of the tasks this supervisor knows ($1) for
     * supervisor $3, with a lease of $4 ms. One short statement: no
     * transaction stays open while the jobs run.
     */
    claimJobs: statement(
      schema,
      queues.length > 0 ? 'claim-jobs-in-queues' : 'claim-jobs',
      `with next as (
         select job_id from $S.jobs
         where job_status = 'pending' and run_at <= now() and task = any($1::text[]) ${queueFilter}
         order by priority, run_at, job_id
         limit $2::int
         for update skip locked)
       update $S.jobs j
       set job_status = 'running', attempts = j.attempts + 1, locked_by = $3::text,
           locked_until = now() + $4::int * interval '1 millisecond', updated_at = now()
       from next where j.job_id = next.job_id
       returning ${CLAIMED}`,
    ),
    /**
     * Writes a batch of outcomes. An outcome with a null error succeeded;
     * otherwise the job goes back to pending after its retry delay, or to
     * failed when it has used its attempts. Fenced: only rows this supervisor
     * ($5) still holds at the attempt it ran are changed; the ids returned
     * tell which outcomes applied.
     */
    completeJobs: statement(
      schema,
      'complete-jobs',
      `update $S.jobs j
       set job_status = case when o.error is null then 'success'
                             when j.attempts >= j.max_attempts then 'failed'
                             else 'pending' end,
           last_error = coalesce(o.error, j.last_error),
           run_at = case when o.error is not null and j.attempts < j.max_attempts
                         then now() + o.retry_delay_ms * interval '1 millisecond' else j.run_at end,
           finished_at = case when o.error is null or j.attempts >= j.max_attempts then now() end,
           locked_by = null, locked_until = null, updated_at = now()
       from unnest($1::bigint[], $2::int[], $3::text[], $4::int[]) as o(job_id, attempt, error, retry_delay_ms)
       where j.job_id = o.job_id and j.locked_by = $5::text and j.attempts = o.attempt and j.job_status = 'running'
       returning j.job_id, j.job_status`,
    ),
    /**
     * Hands back claimed jobs that never started (shutdown): pending again,
     * due now, and the claim's attempt is not counted. Fenced like completions.
     */
    releaseJobs: statement(
      schema,
      'release-jobs',
      `update $S.jobs j
       set job_status = 'pending', attempts = j.attempts - 1, locked_by = null, locked_until = null, updated_at = now()
       from unnest($1::bigint[], $2::int[]) as r(job_id, attempt)
       where j.job_id = r.job_id and j.locked_by = $3::text and j.attempts = r.attempt and j.job_status = 'running'
       returning j.job_id`,
    ),
    register: statement(
      schema,
      'register-supervisor',
      `insert into $S.supervisors (supervisor_id, host, pid, threads, concurrency, queues, tasks)
       values ($1, $2, $3, $4, $5, $6::text[], $7::text[])`,
    ),
    deregister: statement(schema, 'deregister-supervisor', `delete from $S.supervisors where supervisor_id = $1`),
    /** The channel the jobs triggers notify (migrations/001_jobs.sql). Not prepared: LISTEN takes no parameters. */
    listen: { name: `${schema}.listen`, text: `listen "${schema}_jobs"` },
  };
}
