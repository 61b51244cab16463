/** `supervisor status`: live supervisors and job counts by queue and status. */
import { producerStatements } from '../db/sql/producer.js';
import { withQueue } from './context.js';
import { formatTable } from './table.js';

interface SupervisorRow {
  supervisor_id: string;
  host: string;
  pid: number;
  threads: number;
  concurrency: number;
  queues: string[];
  started_at: Date;
  heartbeat_age_s: number;
}

export async function statusCommand(argv: Record<string, unknown>): Promise<void> {
  await withQueue(argv, async ({ db, config }) => {
    const sql = producerStatements(config.schema);
    const supervisors = (await db.pool.query<SupervisorRow>(sql.listSupervisors)).rows;
    const counts = (await db.pool.query<{ queue: string; job_status: string; count: number }>(sql.countJobs)).rows;
    console.log(`supervisors (${supervisors.length}):`);
    if (supervisors.length > 0) {
      const rows = supervisors.map((s) => [
        s.supervisor_id,
        s.host,
        String(s.pid),
        `${s.threads}×${s.concurrency}`,
        s.queues.length ? s.queues.join(',') : '*',
        s.started_at.toISOString(),
        `${s.heartbeat_age_s.toFixed(1)}s ago`,
      ]);
      console.log(formatTable(['ID', 'HOST', 'PID', 'THREADS', 'QUEUES', 'STARTED', 'HEARTBEAT'], rows));
    }
    console.log(`\njobs:`);
    console.log(formatTable(['QUEUE', 'STATUS', 'COUNT'], counts.map((c) => [c.queue, c.job_status, String(c.count)])));
  });
}
