/** `supervisor jobs`: lists jobs, newest first. */
import { jobsOptions, resolveOptions } from '../config.js';
import { withQueue } from './context.js';
import { attemptDuration, firstLine, formatTable, formatTime } from './table.js';

/** Matching jobs are counted up to this many for the "20 of N" line. */
const COUNT_UP_TO = 10_000;

export async function jobsCommand(argv: Record<string, unknown>): Promise<void> {
  const { json, limit, ...filter } = resolveOptions(jobsOptions, argv);
  await withQueue(argv, async ({ queue }) => {
    const jobs = await queue.listJobs({ ...filter, limit });
    if (json) {
      for (const job of jobs) console.log(JSON.stringify({ ...job, job_data: JSON.parse(job.job_data) }));
      return;
    }
    if (jobs.length === 0) {
      console.log('no jobs');
      return;
    }
    const rows = jobs.map((job) => [
      job.job_id,
      job.task,
      job.queue,
      job.job_status,
      `${job.attempts}/${job.max_attempts}`,
      String(job.priority),
      formatTime(job.run_at),
      formatTime(job.started_at),
      formatTime(job.finished_at),
      attemptDuration(job),
      firstLine(job.last_error),
    ]);
    console.log(formatTable(['ID', 'TASK', 'QUEUE', 'STATUS', 'ATTEMPTS', 'PRIORITY', 'RUN AT', 'STARTED', 'FINISHED', 'TOOK', 'LAST ERROR'], rows));
    if (jobs.length === limit) {
      const total = await queue.countJobs(filter, COUNT_UP_TO);
      if (total > jobs.length) {
        const of = total >= COUNT_UP_TO ? `${COUNT_UP_TO.toLocaleString('en-US')} or more` : String(total);
        console.log(`(${jobs.length} of ${of} jobs; --before ${jobs.at(-1)!.job_id} for the next page, or --limit to see more)`);
      }
    }
  });
}
