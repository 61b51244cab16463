/** `supervisor job <id>`: everything about one job. */
import { jobOptions, resolveOptions } from '../config.js';
import { CommandFailed, withQueue } from './context.js';
import { parseIds } from './ids.js';
import { attemptDuration, formatTime, printable } from './table.js';

export async function jobCommand(argv: Record<string, unknown>): Promise<void> {
  const [id] = parseIds(argv.id);
  const { json } = resolveOptions(jobOptions, argv);
  await withQueue(argv, async ({ queue }) => {
    const job = await queue.getJob(id!);
    if (!job) throw new CommandFailed(`no job with id ${id}`);
    if (json) {
      console.log(JSON.stringify({ ...job, job_data: JSON.parse(job.job_data) }));
      return;
    }
    const line = (label: string, value: string) => console.log(`${label.padEnd(10)}${value}`);
    line('job', `${job.job_id}`);
    line('task', printable(job.task));
    line('queue', printable(job.queue));
    line('status', job.job_status);
    line('attempts', `${job.attempts} of ${job.max_attempts}`);
    line('priority', String(job.priority));
    line('job key', job.job_key === null ? '(none)' : printable(job.job_key));
    line('timeout', job.timeout_ms === null ? "the task's, else the supervisor's --job-timeout" : `${job.timeout_ms} ms`);
    if (job.concurrency_key !== null) line('key', `${printable(job.concurrency_key)} (at most ${job.concurrency_limit ?? 1} running at once)`);
    line('created', formatTime(job.created_at));
    line('run at', formatTime(job.run_at));
    line('started', job.started_at ? `${formatTime(job.started_at)} (attempt ${job.attempts})` : '(not yet)');
    line('finished', job.finished_at ? formatTime(job.finished_at) : '(not yet)');
    const took = attemptDuration(job);
    if (took) line('took', took);
    if (job.locked_by) line('held by', `${printable(job.locked_by)}, lease until ${formatTime(job.locked_until)}`);
    line('payload', printable(job.job_data));
    if (job.progress !== null) line('progress', printable(JSON.stringify(job.progress)));
    if (job.result !== null) line('result', printable(JSON.stringify(job.result)));
    const earlier = (job.errors ?? []).slice(0, -1);
    if (earlier.length > 0) {
      console.log('earlier attempts:');
      for (const entry of earlier) console.log(`  attempt ${entry.attempt} at ${formatTime(new Date(entry.at))}: ${printable(entry.error.split('\n', 1)[0]!)}`);
    }
    if (job.last_error) {
      console.log('last error:');
      // Line breaks are kept (a stack trace), every other control character escaped.
      for (const text of job.last_error.split('\n')) console.log(`  ${printable(text)}`);
    }
  });
}
