/** Statements read by the metrics endpoint. */
import { statement } from './statement.js';

export function metricsStatements(schema: string) {
  return {
    /**
     * Jobs by queue in the states an operator watches: backlog (pending),
     * running, and dead (failed). Each count walks a partial or status index;
     * success and cancelled rows, which grow without bound, are never
     * counted (their rates come from the counters).
     */
    queueDepth: statement(
      schema,
      'queue-depth',
      `select queue, job_status, count(*)::float8 as count from $S.jobs
       where job_status in ('pending', 'running', 'failed')
       group by queue, job_status`,
    ),
  };
}
