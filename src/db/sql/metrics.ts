/** Statements read by the metrics endpoint. */
import { statement } from './statement.js';

export function metricsStatements(schema: string) {
  return {
    /**
     * Jobs by queue in the states an operator watches: backlog (pending),
     * running, and dead (failed); and of the pending ones, those whose task
     * no live supervisor runs (a typo, or a task module not deployed). One
     * arm per status, so that each reads its own partial index (pending
     * and failed from the index alone, see migrations/006_maintenance.sql)
     * and never the table's finished rows; success and cancelled rows are
     * never counted (their rates come from the counters).
     */
    queueDepth: statement(
      schema,
      'queue-depth',
      `select queue, 'pending' as job_status, count(*)::float8 as count,
              (count(*) filter (where task <> all(array(
                 select unnest(tasks) from $S.supervisors
                 where heartbeat_at > now() - lease_ms * interval '1 millisecond'))))::float8 as without_runner
       from $S.jobs where job_status = 'pending' group by queue
       union all
       select queue, 'running', count(*)::float8, 0 from $S.jobs where job_status = 'running' group by queue
       union all
       select queue, 'failed', count(*)::float8, 0 from $S.jobs where job_status = 'failed' group by queue`,
    ),
  };
}
