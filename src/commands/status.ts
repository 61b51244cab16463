/** `supervisor status`: live supervisors and which leads maintenance, job counts by queue and status, and jobs no supervisor runs. */
import { producerStatements } from '../db/sql/producer.js';
import { withQueue } from './context.js';
import { formatQueues } from './queues.js';
import { formatTable, formatTime } from './table.js';

interface SupervisorRow {
  supervisor_id: string;
  host: string;
  pid: number;
  threads: number;
  concurrency: number;
  queues: string[];
  tasks: string[];
  lease_ms: number;
  started_at: Date;
  heartbeat_age_s: number;
  leads: boolean;
}

export async function statusCommand(argv: Record<string, unknown>): Promise<void> {
  await withQueue(argv, async ({ db, config, queue }) => {
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
        s.tasks.join(','),
        formatTime(s.started_at),
        heartbeat(s),
        s.leads ? 'leader' : '',
      ]);
      console.log(formatTable(['ID', 'HOST', 'PID', 'THREADS', 'QUEUES', 'TASKS', 'STARTED', 'HEARTBEAT', 'ROLE'], rows));
      if (!supervisors.some((s) => s.leads)) console.log('no maintenance leader right now: a live supervisor takes the lead within a lease');
    }
    console.log(`\njobs:`);
    console.log(counts.length === 0 ? 'no jobs' : formatTable(['QUEUE', 'STATUS', 'COUNT'], counts.map((c) => [c.queue, c.job_status, String(c.count)])));
    const settled = (await queue.queues()).filter((q) => q.paused || q.concurrency !== null || q.rate !== null);
    if (settled.length > 0) {
      console.log(`\nqueues paused or limited:`);
      console.log(formatQueues(settled));
    }
    const orphans = await queue.jobsWithoutRunner();
    if (orphans.length > 0) {
      console.log(`\npending jobs whose task no live supervisor runs (a typo, or a task module not deployed):`);
      console.log(formatTable(['TASK', 'QUEUE', 'COUNT'], orphans.map((o) => [o.task, o.queue, String(o.count)])));
    }
  });
}

/** The heartbeat's age; a supervisor silent for longer than its lease is marked, as its jobs are about to be recovered. */
function heartbeat(s: SupervisorRow): string {
  const age = `${s.heartbeat_age_s.toFixed(1)}s ago`;
  return s.heartbeat_age_s * 1000 > s.lease_ms ? `${age}, not responding` : age;
}
