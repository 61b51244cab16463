-- pg-supervisor schema, version 3: hand-off of new jobs to idle supervisors.
--
-- A supervisor with a free slot and nothing left to claim offers that slot
-- here. Queue.add then claims its new job for that supervisor in the
-- producer's own statement and sends it on the offer's channel, which saves
-- the supervisor a claim round trip after the notification. At most one
-- offer per supervisor; it goes with the supervisor's row.
create table offers (
  supervisor_id text primary key references supervisors (supervisor_id) on delete cascade,
  channel       text not null,
  lease_ms      int not null check (lease_ms > 0),
  offered_at    timestamptz not null default now()
);

-- A job handed off is already running: waking every supervisor to claim
-- it would only cost each of them an empty claim. The hand-off sets this
-- transaction-local flag.
create or replace function notify_jobs() returns trigger language plpgsql as $$
begin
  if current_setting('pg_supervisor.handed_off', true) = 'on' then
    return null;
  end if;
  perform pg_notify(tg_table_schema || '_jobs', '');
  return null;
end $$;
