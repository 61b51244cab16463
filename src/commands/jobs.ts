/** `supervisor jobs`: lists jobs, newest first. */
import { jobsOptions, resolveOptions } from '../config.js';
import { withQueue } from './context.js';
import { firstLine, formatTable } from './table.js';

export async function jobsCommand(argv: Record<string, unknown>): Promise<void> {
  const { json, ...filter } = resolveOptions(jobsOptions, argv);
  await withQueue(argv, async ({ queue }) => {
    const jobs = await queue.listJobs(filter);
    if (json) {
      for (const job of jobs) console.log(JSON.stringify({ ...job, job_data: JSON.parse(job.job_data) }));
      return;
    }
    const rows = jobs.map((job) => [
      job.job_id,
      job.task,
      job.queue,
      job.job_status,
      `${job.attempts}/${job.max_attempts}`,
      String(job.priority),
      job.run_at.toISOString(),
      firstLine(job.last_error),
    ]);
    console.log(formatTable(['ID', 'TASK', 'QUEUE', 'STATUS', 'ATTEMPTS', 'PRIORITY', 'RUN AT', 'LAST ERROR'], rows));
  });
}
