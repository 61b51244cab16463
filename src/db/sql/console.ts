/** Statements of the web console's overview that the Queue does not already have. */
import { statement } from './statement.js';

/** Finished jobs looked at for the recent throughput; past this the count shows as at least this. */
export const RECENT_SAMPLE = 50_000;

export function consoleStatements(schema: string) {
  return {
    /**
     * Per queue: failed jobs (from their partial index), and jobs that
     * succeeded or failed in the last $1 seconds, from the finished jobs'
     * indexes, reading at most RECENT_SAMPLE of each, so a busy table
     * costs a bounded read and never a count of the whole table.
     */
    queueActivity: statement(
      schema,
      'queue-activity',
      `with failed as (
         select queue, count(*)::int as failed from $S.jobs where job_status = 'failed' group by queue),
       succeeded_recently as (
         select queue, count(*)::int as n from (
           select queue from $S.jobs
           where job_status = 'success' and coalesce(finished_at, updated_at) > now() - $1::int * interval '1 second'
           limit ${RECENT_SAMPLE}) s group by queue),
       failed_recently as (
         select queue, count(*)::int as n from (
           select queue from $S.jobs
           where job_status = 'failed' and coalesce(finished_at, updated_at) > now() - $1::int * interval '1 second'
           limit ${RECENT_SAMPLE}) f group by queue)
       select coalesce(f.queue, s.queue, r.queue) as queue, coalesce(f.failed, 0) as failed,
              coalesce(s.n, 0) as succeeded_recently, coalesce(r.n, 0) as failed_recently
       from failed f full join succeeded_recently s on s.queue = f.queue
         full join failed_recently r on r.queue = coalesce(f.queue, s.queue)`,
    ),
  };
}
