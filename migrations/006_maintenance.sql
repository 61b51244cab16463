-- pg-supervisor schema, version 6: retention of finished jobs and one
-- maintenance leader.
--
-- Retention deletes finished jobs by outcome and age, oldest first, in
-- small batches: this index finds them without reading the live rows.
-- A row marked finished by hand without a finished_at ages from its
-- updated_at. On a table that already holds millions of rows, building
-- the index blocks writes while it runs (about a second per million rows):
-- to avoid that, build it first with `create index concurrently` and the
-- same definition; the migration then keeps it.
create index if not exists jobs_finished_idx on jobs (job_status, (coalesce(finished_at, updated_at)))
  where job_status in ('success', 'failed', 'cancelled');

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
