-- pg-supervisor schema, version 6: retention of finished jobs and one
-- maintenance leader.
--
-- Retention deletes finished jobs by outcome and age, oldest first, in
-- small batches: one index per outcome finds them without reading live
-- rows (three narrow indexes are less than half the size of one on status
-- and time). A row marked finished by hand without a finished_at ages from
-- its updated_at. On a table that already holds millions of rows, building
-- these indexes blocks writes while it runs (about a second per million
-- rows): to avoid that, build them first with `create index concurrently`
-- and the same definitions; the migration then keeps them.
create index if not exists jobs_succeeded_idx on jobs ((coalesce(finished_at, updated_at))) where job_status = 'success';
create index if not exists jobs_failed_at_idx on jobs ((coalesce(finished_at, updated_at))) where job_status = 'failed';
create index if not exists jobs_cancelled_idx on jobs ((coalesce(finished_at, updated_at))) where job_status = 'cancelled';

-- The queue-depth gauge counts pending and failed jobs by queue and task.
-- These two narrow indexes let it count from the index alone (a million
-- pending jobs in about a tenth of a second) instead of reading the whole
-- table; a job enters the pending one when added and the failed one when it
-- fails for good, and no other write touches them.
create index if not exists jobs_pending_count_idx on jobs (queue, task) where job_status = 'pending';
create index if not exists jobs_failed_count_idx on jobs (queue, task) where job_status = 'failed';

-- Vacuum the table after a fixed share of changes, however many finished
-- rows it holds: at PostgreSQL's defaults (a fifth of the table) a table
-- with ten million finished rows would wait for two million dead rows, and
-- meanwhile the claim walks the dead entries of claimed jobs at the front
-- of its index. The insert threshold keeps the visibility map current, so
-- the counts above stay index-only.
alter table jobs set (
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.02
);

-- The supervisor that runs maintenance (lease recovery, retention) for the
-- schema. At most one row. A supervisor takes it when it is free or its
-- holder's term has ended, and the holder renews it well within its term;
-- it goes with the holder's supervisors row.
create table leader (
  only_one      boolean primary key default true check (only_one),
  supervisor_id text not null references supervisors (supervisor_id) on delete cascade,
  elected_at    timestamptz not null default now(),
  expires_at    timestamptz not null
);
