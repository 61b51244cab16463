/** Statements read by the metrics endpoint. */
import { statement } from './statement.js';

export function metricsStatements(schema: string) {
  return {
    /**
     * Jobs by queue in the states an operator watches: backlog (pending),
     * running, and dead (failed); and of the pending ones, those whose task
     * no live supervisor runs (a typo, or a task module not deployed). Each count walks a partial or status index;
     * success and cancelled rows, which grow without bound, are never
     * counted (their rates come from the counters).
     */
    queueDepth: statement(
      schema,
      'queue-depth',
      `select queue, job_status, count(*)::float8 as count,
              (count(*) filter (where job_status = 'pending' and task <> all(array(
                 select unnest(tasks) from $S.supervisors
                 where heartbeat_at > now() - lease_ms * interval '1 millisecond'))))::float8 as without_runner
       from $S.jobs
       where job_status in ('pending', 'running', 'failed')
       group by queue, job_status`,
    ),
  };
}
