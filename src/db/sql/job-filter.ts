/**
 * Statements over the jobs matching a filter (status, queue, task, text in
 * the payload or the errors): the list with keyset pagination, a capped
 * count, and the bulk retry, cancel and delete behind the CLI, the Queue
 * and the console. Each combination of filters present is its own named
 * statement (`list-jobs[status,queue]`), so its plan can use the index that
 * fits (the failed jobs' partial index for status = 'failed') instead of
 * one generic plan for every filter.
 */
import type { JobStatus } from '../../config.js';
import { controlChannel, statement, type Statement } from './statement.js';

/** Which jobs an operation is about. Every field is optional; none matches every job. */
export interface JobFilter {
  status?: JobStatus;
  queue?: string;
  task?: string;
  /** Text found in the payload (as JSON) or in the last error, case-insensitively. */
  search?: string;
}

/** Jobs changed per statement by a bulk operation, which repeats until no job is left to change. */
export const BULK_CHUNK = 5000;

/** The columns of a job in a list. */
export const LISTED = `job_id, task, queue, job_status, priority, attempts, max_attempts, run_at, locked_by,
  last_error, job_key, created_at, started_at, finished_at, job_data::text as job_data`;

/** The filter as a where clause on table alias `j`, its parameters numbered from `first`, and its values. */
function where(filter: JobFilter, first: number): { sql: string[]; values: unknown[]; key: string[] } {
  const sql: string[] = [];
  const values: unknown[] = [];
  const key: string[] = [];
  const add = (name: string, clause: (param: string) => string, value: unknown) => {
    values.push(value);
    sql.push(clause(`$${first + values.length - 1}`));
    key.push(name);
  };
  if (filter.status !== undefined) add('status', (p) => `j.job_status = ${p}::text`, filter.status);
  if (filter.queue !== undefined) add('queue', (p) => `j.queue = ${p}::text`, filter.queue);
  if (filter.task !== undefined) add('task', (p) => `j.task = ${p}::text`, filter.task);
  if (filter.search !== undefined && filter.search !== '') {
    add('search', (p) => `(j.job_data::text ilike ${p}::text or j.last_error ilike ${p}::text)`, `%${filter.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  return { sql, values, key };
}

/** A statement (and its values) for the jobs matching `filter`; `build` gets the where clause's conditions. */
function filtered(schema: string, name: string, filter: JobFilter, first: number, build: (conditions: string) => string) {
  const { sql, values, key } = where(filter, first);
  const conditions = sql.length > 0 ? sql.join(' and ') : 'true';
  return { statement: statement(schema, `${name}[${key.join(',')}]`, build(conditions)), values };
}

export function jobFilterStatements(schema: string) {
  return {
    /** A page of matching jobs, newest first: $1 the page size, $2 the last id of the previous page (null for the first). */
    listJobs(filter: JobFilter, limit: number, before: string | null): { statement: Statement; values: unknown[] } {
      const { statement: s, values } = filtered(schema, 'list-jobs', filter, 3, (conditions) =>
        `select ${LISTED} from $S.jobs j
         where ${conditions} and ($2::bigint is null or j.job_id < $2::bigint)
         order by j.job_id desc limit $1::int`);
      return { statement: s, values: [limit, before, ...values] };
    },
    /** How many jobs match, counted up to $1 (a huge table is not counted in full). */
    countJobs(filter: JobFilter, upTo: number) {
      const { statement: s, values } = filtered(schema, 'count-jobs-matching', filter, 2, (conditions) =>
        `select count(*)::int as count from (select 1 from $S.jobs j where ${conditions} limit $1::int) matching`);
      return { statement: s, values: [upTo, ...values] };
    },
    /**
     * Re-queues up to BULK_CHUNK matching jobs whose status is in $1
     * (failed, or failed and cancelled) with a fresh set of attempts.
     */
    retryJobs(filter: JobFilter, statuses: JobStatus[]) {
      const { statement: s, values } = filtered(schema, 'retry-jobs-matching', filter, 2, (conditions) =>
        `update $S.jobs
         set job_status = 'pending', attempts = 0, run_at = now(), finished_at = null, updated_at = now()
         where job_id = any(array(
           select j.job_id from $S.jobs j where ${conditions} and j.job_status = any($1::text[])
           order by j.job_id limit ${BULK_CHUNK} for update skip locked))
         returning job_id`);
      return { statement: s, values: [statuses, ...values] };
    },
    /** The ids of up to BULK_CHUNK matching jobs that are pending or running, for Queue.cancel. */
    cancellableIds(filter: JobFilter) {
      const { statement: s, values } = filtered(schema, 'cancellable-jobs-matching', filter, 1, (conditions) =>
        `select j.job_id from $S.jobs j where ${conditions} and j.job_status in ('pending', 'running')
         order by j.job_id limit ${BULK_CHUNK}`);
      return { statement: s, values };
    },
    /**
     * Deletes up to BULK_CHUNK matching jobs that are not running (cancel
     * a running job first: its holder is still at work on it).
     */
    deleteJobs(filter: JobFilter) {
      const { statement: s, values } = filtered(schema, 'delete-jobs-matching', filter, 1, (conditions) =>
        `delete from $S.jobs where job_id = any(array(
           select j.job_id from $S.jobs j where ${conditions} and j.job_status <> 'running'
           order by j.job_id limit ${BULK_CHUNK} for update skip locked))
         returning job_id`);
      return { statement: s, values };
    },
    /**
     * Cancels jobs $1 that have not finished. The supervisors holding
     * running ones hear it on the control channel (ids in messages of at
     * most 500, well under the 8,000-byte limit) and abort them at once;
     * whatever such a job returns is refused by the fence.
     */
    cancelJobs: statement(
      schema,
      'cancel-jobs',
      `with target as materialized (
         select job_id, job_status as was from $S.jobs
         where job_id = any($1::bigint[]) and job_status in ('pending', 'running')
         for update),
       cancelled as (
         update $S.jobs j
         set job_status = 'cancelled', finished_at = now(), updated_at = now(), locked_by = null, locked_until = null
         from target t where j.job_id = t.job_id
         returning j.job_id, t.was),
       told as (
         select pg_notify('${controlChannel(schema)}', json_build_object('cancel', array_agg(job_id::text))::text)
         from (select job_id, (row_number() over ()) / 500 as chunk from cancelled where was = 'running') running
         group by chunk)
       select job_id, (select count(*) from told)::int as messages from cancelled`,
    ),
    /** Re-queues jobs $1 that are failed or cancelled, with a fresh set of attempts. */
    retryJobsById: statement(
      schema,
      'retry-jobs-by-id',
      `update $S.jobs
       set job_status = 'pending', attempts = 0, run_at = now(), finished_at = null, updated_at = now()
       where job_id = any($1::bigint[]) and job_status in ('failed', 'cancelled')
       returning job_id`,
    ),
    /** Deletes jobs $1 that are not running. */
    deleteJobsById: statement(
      schema,
      'delete-jobs-by-id',
      `delete from $S.jobs where job_id = any($1::bigint[]) and job_status <> 'running' returning job_id`,
    ),
  };
}
