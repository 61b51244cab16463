-- pg-supervisor schema, version 10: waiting for a job, progress, tracing.

-- Queue.waitFor(id) sets `awaited` on the job (after it LISTENs), and the
-- job's end is then told on "<schema>_finished" with its id as payload:
-- whoever finishes it (a supervisor, recovery, cancel, a delete). Only
-- awaited jobs notify, so a drain nobody waits on pays one boolean test per
-- row and no notification. Setting the flag on a running job waits for any
-- completion in progress to commit, so no end is missed between the
-- waiter's look at the job and its notification.
alter table jobs add column awaited boolean not null default false;

create function notify_finished() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_finished', coalesce(new.job_id, old.job_id)::text);
  return null;
end $$;

create trigger jobs_finished after update of job_status on jobs
  for each row
  when (new.awaited and new.job_status in ('success', 'failed', 'cancelled') and old.job_status <> new.job_status)
  execute function notify_finished();

create trigger jobs_deleted_awaited after delete on jobs
  for each row when (old.awaited)
  execute function notify_finished();

-- What the handler last reported with ctx.progress() (a number or a small
-- JSON value), written in batches while the job runs.
alter table jobs add column progress jsonb;

-- The trace context of the code that added the job (W3C traceparent and
-- tracestate, as the application's OpenTelemetry propagator wrote them),
-- so that the job's span links back to it. Null without OpenTelemetry.
alter table jobs add column trace_context jsonb;
