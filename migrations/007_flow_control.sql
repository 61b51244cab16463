-- pg-supervisor schema, version 7: flow control (paused queues, limits
-- across every supervisor, per-key concurrency), cron schedules and
-- per-task defaults.

-- Settings of a queue. A queue with no row here runs unlimited.
create table queues (
  queue          text primary key,
  -- No supervisor claims a paused queue's jobs; they can still be added.
  paused         boolean not null default false,
  -- At most this many of its jobs running at once, in the whole cluster.
  concurrency    int check (concurrency > 0),
  -- At most rate_limit of its jobs started in any rate_period_ms.
  rate_limit     int check (rate_limit > 0),
  rate_period_ms int check (rate_period_ms > 0),
  updated_at     timestamptz not null default now(),
  constraint queues_rate_whole check ((rate_limit is null) = (rate_period_ms is null))
);

-- When each job of a rate-limited queue started, for one period: the
-- limit counts them in a sliding window. Only rate-limited queues write
-- here.
create table queue_starts (
  queue      text not null references queues (queue) on delete cascade,
  started_at timestamptz not null
);
create index queue_starts_idx on queue_starts (queue, started_at);

-- A job with a concurrency_key never runs beside more than
-- concurrency_limit (default 1) running jobs with the same key.
alter table jobs
  add column concurrency_key text,
  add column concurrency_limit int check (concurrency_limit is null or concurrency_limit > 0);

-- Jobs with a key, and jobs of paused or limited queues, are claimed by
-- claim_gated() below, never by the plain claim: the plain claim's index
-- leaves keyed jobs out, so a backlog of them waiting for their key costs
-- the plain claim nothing.
drop index jobs_claim_idx;
create index jobs_claim_idx on jobs (priority, run_at, job_id) where job_status = 'pending' and concurrency_key is null;
create index jobs_keyed_idx on jobs (priority, run_at, job_id) where job_status = 'pending' and concurrency_key is not null;
-- Running jobs by key, for the key's limit. Jobs without a key take no entry.
create index jobs_running_key_idx on jobs (concurrency_key) where job_status = 'running' and concurrency_key is not null;

-- A job with a key became claimable (added by plain SQL, retried, or
-- recovered from a dead supervisor): supervisors start their gated claim
-- if they had none running. Jobs without a key only pay the WHEN test.
create function notify_keyed() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_control', '{"keyed":true}');
  return null;
end $$;
create trigger jobs_keyed_inserted after insert on jobs
  for each row when (new.concurrency_key is not null and new.job_status = 'pending')
  execute function notify_keyed();
create trigger jobs_keyed_requeued after update of job_status on jobs
  for each row when (new.concurrency_key is not null and new.job_status = 'pending' and old.job_status <> 'pending')
  execute function notify_keyed();

-- Queue settings changed: supervisors re-read them (a resumed queue is
-- claimed at once). Control messages go on "<schema>_control".
create function notify_queues() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_control', '{"queues":true}');
  return null;
end $$;
create trigger queues_changed after insert or update or delete on queues
  for each statement execute function notify_queues();

-- Claims up to p_limit jobs that the plain claim leaves alone: jobs of
-- queues with a concurrency or rate limit, and jobs with a concurrency key.
-- It runs each statement on a fresh snapshot (a volatile function does), so
-- that a count taken after a lock sees every claim committed before it:
-- - a limited queue's row is locked for the claim, so claims of that queue
--   take turns across supervisors; then its running jobs and its starts in
--   the last period are counted;
-- - a key is taken with a transaction-scoped advisory lock (try, never
--   wait: a key another claim is deciding on is skipped), then its running
--   jobs are counted.
-- Start times of rate-limited queues come from the clock after the lock,
-- so they never go backwards, and the window is exact. When a
-- rate-limited queue is at its limit, a last row with no job says in
-- lag_s how many seconds until its window lets another job start, so the
-- supervisor claims again then rather than at its next poll.
-- Candidates are read without locks, and each chosen job is locked with
-- skip locked, so walking past jobs whose key is busy writes nothing.
-- These functions keep the search_path of the migration (the schema), so
-- they find its tables whatever the caller's is.
create function claim_gated(p_tasks text[], p_limit int, p_supervisor text, p_lease_ms int, p_queues text[])
returns table (id bigint, task text, queue text, payload text, attempt int, max_attempts int, timeout_ms int, lag_s float8)
language plpgsql volatile set search_path from current as $$
declare
  q queues%rowtype;
  candidate record;
  budget int := p_limit;
  allowed int;
  taken int;
  started timestamptz;
  busy_keys text[] := '{}';
  window_opens_s float8;
begin
  for q in select * from queues s
           where not s.paused and (s.concurrency is not null or s.rate_limit is not null)
             and (cardinality(p_queues) = 0 or s.queue = any(p_queues))
           order by s.queue
  loop
    exit when budget <= 0;
    select * into q from queues s where s.queue = q.queue for update;
    continue when not found or q.paused;
    started := clock_timestamp();
    allowed := budget;
    if q.concurrency is not null then
      allowed := least(allowed, q.concurrency - (select count(*) from jobs j where j.job_status = 'running' and j.queue = q.queue));
    end if;
    if q.rate_limit is not null then
      delete from queue_starts s where s.queue = q.queue and s.started_at <= started - q.rate_period_ms * interval '1 millisecond';
      allowed := least(allowed, q.rate_limit - (select count(*) from queue_starts s where s.queue = q.queue));
      if allowed <= 0 then
        window_opens_s := least(window_opens_s, extract(epoch from
          (select min(s.started_at) from queue_starts s where s.queue = q.queue) + q.rate_period_ms * interval '1 millisecond' - started));
      end if;
    end if;
    continue when allowed <= 0;
    taken := 0;
    for candidate in select j.job_id, j.concurrency_key, j.concurrency_limit from jobs j
                     where j.job_status = 'pending' and j.queue = q.queue and j.run_at <= now() and j.task = any(p_tasks)
                     order by j.priority, j.run_at, j.job_id
    loop
      exit when taken >= allowed;
      continue when candidate.concurrency_key = any(busy_keys);
      if candidate.concurrency_key is not null and not key_free(candidate.concurrency_key, candidate.concurrency_limit) then
        busy_keys := busy_keys || candidate.concurrency_key;
        continue;
      end if;
      return query select * from claim_one(candidate.job_id, p_supervisor, p_lease_ms, started);
      if found then
        taken := taken + 1;
      end if;
    end loop;
    if q.rate_limit is not null and taken > 0 then
      insert into queue_starts (queue, started_at) select q.queue, started from generate_series(1, taken);
    end if;
    budget := budget - taken;
  end loop;

  -- Keyed jobs of queues that are neither paused nor limited.
  for candidate in select j.job_id, j.concurrency_key, j.concurrency_limit from jobs j
                   where j.job_status = 'pending' and j.concurrency_key is not null and j.run_at <= now()
                     and j.task = any(p_tasks) and (cardinality(p_queues) = 0 or j.queue = any(p_queues))
                     and j.queue <> all(array(select s.queue from queues s
                                              where s.paused or s.concurrency is not null or s.rate_limit is not null))
                   order by j.priority, j.run_at, j.job_id
  loop
    exit when budget <= 0;
    continue when candidate.concurrency_key = any(busy_keys);
    if not key_free(candidate.concurrency_key, candidate.concurrency_limit) then
      busy_keys := busy_keys || candidate.concurrency_key;
      continue;
    end if;
    return query select * from claim_one(candidate.job_id, p_supervisor, p_lease_ms, clock_timestamp());
    if found then
      budget := budget - 1;
    end if;
  end loop;
  if window_opens_s is not null then
    return query select null::bigint, null::text, null::text, null::text, null::int, null::int, null::int, window_opens_s;
  end if;
end $$;

-- Whether another job with this key may start: takes the key's advisory
-- lock for the rest of the transaction (or reports it busy when another
-- claim holds it), then counts the key's running jobs on a fresh snapshot.
create function key_free(p_key text, p_limit int) returns boolean language plpgsql volatile set search_path from current as $$
begin
  if not pg_try_advisory_xact_lock(hashtextextended('pg-supervisor:key:' || p_key, 0)) then
    return false;
  end if;
  return (select count(*) from jobs j where j.job_status = 'running' and j.concurrency_key = p_key) < coalesce(p_limit, 1);
end $$;

-- Claims one pending job for p_supervisor, unless another claim has it
-- locked or took it: the same change as the plain claim.
create function claim_one(p_job_id bigint, p_supervisor text, p_lease_ms int, p_started timestamptz)
returns table (id bigint, task text, queue text, payload text, attempt int, max_attempts int, timeout_ms int, lag_s float8)
language sql volatile set search_path from current as $$
  update jobs j
  set job_status = 'running', attempts = least(j.attempts, 2147483646) + 1, locked_by = p_supervisor,
      locked_until = now() + p_lease_ms * interval '1 millisecond', started_at = p_started, updated_at = now()
  where j.job_id = (select c.job_id from jobs c where c.job_id = p_job_id and c.job_status = 'pending' for update skip locked)
  returning j.job_id, j.task, j.queue, j.job_data::text, j.attempts, j.max_attempts, j.timeout_ms,
    extract(epoch from now() - j.run_at)::float8
$$;

-- Recurring jobs. The maintenance leader adds one job per tick, with the
-- job key 'cron:<name>:<tick>', so a tick is added once however many
-- supervisors there are (even two leaders for a moment). last_tick is the
-- newest tick added; a schedule starts from the moment it was saved.
create table schedules (
  name         text primary key,
  expression   text not null,
  -- IANA time zone the expression is read in; null for UTC.
  timezone     text,
  task         text not null,
  payload      jsonb not null default '{}',
  queue        text,
  priority     int,
  max_attempts int check (max_attempts is null or max_attempts >= 1),
  -- When ticks were missed (no supervisor up), add at most this many of
  -- the newest; older ones are skipped.
  backfill     int not null default 1 check (backfill between 1 and 1000),
  last_tick    timestamptz not null default date_trunc('milliseconds', now()),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);

create function notify_schedules() returns trigger language plpgsql as $$
begin
  perform pg_notify(tg_table_schema || '_control', '{"schedules":true}');
  return null;
end $$;
create trigger schedules_changed after insert or delete or update of expression, timezone on schedules
  for each statement execute function notify_schedules();

-- Defaults a task module declares for its tasks (queue, priority, attempts),
-- written by each supervisor at start. Jobs added through Queue, the CLI
-- or a schedule take them where they say nothing themselves.
create table task_defaults (
  task         text primary key,
  queue        text,
  priority     int,
  max_attempts int check (max_attempts is null or max_attempts >= 1),
  updated_at   timestamptz not null default now()
);
