/** Statements of the maintenance leader: its election, and retention of finished jobs. */
import { statement, type Statement } from './statement.js';

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
     * Whether the jobs table needs a vacuum that autovacuum has not given it
     * in the last $1 ms, or an analyze in the last $2 ms:
     * - a vacuum at 10,000 dead rows and 1% of the live ones (the per-table
     *   autovacuum setting of migrations/006_maintenance.sql);
     * - an analyze at 1,000 rows changed since its statistics were taken and
     *   2% of the live ones (likewise). Plans are made from them: a claim
     *   planned while the table was empty, or held only finished jobs, reads
     *   every pending job until they are taken again.
     * Also its dead rows, its rows changed since the last analyze, and a
     * count of every row change ever made to it, which tells a busy table
     * from an idle one.
     */
    needsVacuum: statement(
      schema,
      'needs-vacuum',
      `select n_dead_tup::float8 as dead, n_mod_since_analyze::float8 as "changedSinceAnalyze", (n_tup_ins + n_tup_upd + n_tup_del)::float8 as changes,
         n_dead_tup >= greatest(10000, n_live_tup / 100)
           and coalesce(greatest(last_vacuum, last_autovacuum), '-infinity') < now() - $1::int * interval '1 millisecond' as vacuum,
         n_mod_since_analyze >= greatest(1000, n_live_tup / 50)
           and coalesce(greatest(last_analyze, last_autoanalyze), '-infinity') < now() - $2::int * interval '1 millisecond' as analyze
       from pg_stat_user_tables where relid = '$S.jobs'::regclass`,
    ),
    /**
     * Vacuums the jobs table at autovacuum's pace (its cost delay), its
     * indexes always: the claim index's dead entries are what slows claims.
     * Not prepared (VACUUM takes no parameters) and outside a transaction.
     */
    vacuumJobs: { name: `${schema}.vacuum-jobs`, text: `vacuum (index_cleanup true, skip_locked true) "${schema}".jobs` } as Statement,
    /** The same, and takes fresh statistics. */
    vacuumAnalyzeJobs: { name: `${schema}.vacuum-analyze-jobs`, text: `vacuum (analyze, index_cleanup true, skip_locked true) "${schema}".jobs` } as Statement,
    /** Takes fresh statistics of the jobs table, at the same pace; plans made from the old ones are made again. */
    analyzeJobs: { name: `${schema}.analyze-jobs`, text: `analyze (skip_locked true) "${schema}".jobs` } as Statement,
    /** Cancels the vacuum running on backend $1 (a shutdown does not wait for it). */
    cancelVacuum: statement(schema, 'cancel-vacuum', `select pg_cancel_backend($1::int)`),
    /** The pace of autovacuum for this session's VACUUM. */
    vacuumPace: statement(schema, 'vacuum-pace', `select set_config('vacuum_cost_delay', '2', false)`),
    /** Deletes old finished jobs: one statement per status, see {@link deleteFinished}. */
    deleteFinished: Object.fromEntries(FINISHED_STATUSES.map((status) => [status, deleteFinished(schema, status)])) as Record<FinishedStatus, Statement>,
  };
}

/**
 * Deletes up to $2 jobs in `status` that finished more than $1 ms ago,
 * oldest first, skipping rows another transaction has locked; returns how
 * many. The status is written into the text, not passed: only then can the
 * planner use that status's partial index (migrations/006_maintenance.sql)
 * in a generic plan.
 */
function deleteFinished(schema: string, status: FinishedStatus): Statement {
  return statement(
    schema,
    `delete-${status}`,
    `with deleted as (
       delete from $S.jobs
       where job_id = any(array(
         select job_id from $S.jobs
         where job_status = '${status}' and coalesce(finished_at, updated_at) < now() - $1::bigint * interval '1 millisecond'
         order by coalesce(finished_at, updated_at)
         limit $2::int
         for update skip locked))
       returning 1)
     select count(*)::int as deleted from deleted`,
  );
}
