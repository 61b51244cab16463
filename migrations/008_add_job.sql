-- pg-supervisor schema, version 8: add_job(), to add a job from SQL in any
-- transaction, from any language or ORM. Arguments are named and
-- defaulted like Queue.add's options; queue, priority and attempts default
-- to the task's (task_defaults), then to the table's. The job exists only
-- if the caller's transaction commits, and the supervisors are woken at
-- the commit (NOTIFY is transactional). Returns the job's id, or the id of
-- the job that already has `job_key`.
--
--   select supervisor.add_job('sendEmail', '{"to": "a@example.com"}');
--   select supervisor.add_job(task => 'report', payload => '{}', queue => 'reports', run_at => now() + interval '1 hour');
create function add_job(
  task text,
  payload jsonb default '{}',
  queue text default null,
  run_at timestamptz default null,
  priority int default null,
  max_attempts int default null,
  job_key text default null,
  timeout_ms int default null,
  concurrency_key text default null,
  concurrency_limit int default null
) returns bigint language plpgsql volatile set search_path from current as $$
#variable_conflict use_column
declare
  added bigint;
begin
  insert into jobs (task, queue, job_data, priority, run_at, max_attempts, job_key, timeout_ms, concurrency_key, concurrency_limit)
  select add_job.task, coalesce(add_job.queue, d.queue, 'default'), coalesce(add_job.payload, '{}'),
         coalesce(add_job.priority, d.priority, 0), coalesce(add_job.run_at, now()),
         coalesce(add_job.max_attempts, d.max_attempts, 3), add_job.job_key, add_job.timeout_ms,
         add_job.concurrency_key, add_job.concurrency_limit
  from (values (true)) as one (x) left join task_defaults d on d.task = add_job.task
  on conflict (job_key) where job_key is not null do nothing
  returning job_id into added;
  if added is null then
    select j.job_id into added from jobs j where j.job_key = add_job.job_key;
  end if;
  return added;
end $$;
