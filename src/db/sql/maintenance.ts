/** Statements of the maintenance leader: its election, and retention of finished jobs. */
import { statement } from './statement.js';

/** The statuses retention deletes, each after its own period. */
export const FINISHED_STATUSES = ['success', 'failed', 'cancelled'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

export function maintenanceStatements(schema: string) {
  return {
    /**
     * Supervisor $1 takes the leader row for a term of $2 ms when the row
     * is free, its term has ended, or it is its own (a renewal). Returns a
     * row only when $1 leads afterwards. `elected_at` stays from the first
     * term of an unbroken run of renewals.
     */
    electLeader: statement(
      schema,
      'elect-leader',
      `insert into $S.leader as l (supervisor_id, expires_at)
       values ($1::text, now() + $2::int * interval '1 millisecond')
       on conflict (only_one) do update
         set supervisor_id = excluded.supervisor_id, expires_at = excluded.expires_at,
             elected_at = case when l.supervisor_id = excluded.supervisor_id then l.elected_at else now() end
         where l.supervisor_id = excluded.supervisor_id or l.expires_at < now()
       returning l.elected_at`,
    ),
    /** Supervisor $1 gives up the lead (at shutdown), so another takes it at its next election. */
    resignLeader: statement(schema, 'resign-leader', `delete from $S.leader where supervisor_id = $1::text`),
    /**
     * Deletes up to $3 jobs in status $1 that finished more than $2 ms ago,
     * oldest first, skipping rows another transaction has locked. The
     * literal status list lets the planner use the finished-jobs index
     * whatever $1 is (a partial index needs its condition proven from the
     * query's text, which a parameter cannot do in a generic plan).
     * Returns how many were deleted.
     */
    deleteFinished: statement(
      schema,
      'delete-finished',
      `with deleted as (
         delete from $S.jobs
         where job_id = any(array(
           select job_id from $S.jobs
           where job_status in ('success', 'failed', 'cancelled') and job_status = $1::text
             and coalesce(finished_at, updated_at) < now() - $2::bigint * interval '1 millisecond'
           order by job_status, coalesce(finished_at, updated_at)
           limit $3::int
           for update skip locked))
         returning 1)
       select count(*)::int as deleted from deleted`,
    ),
  };
}
