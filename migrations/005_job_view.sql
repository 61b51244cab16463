-- pg-supervisor schema, version 5: what `supervisor job` and `status` show.
-- When the current (or last) attempt started: set by the claim and the hand-off.
alter table jobs add column started_at timestamptz;
-- Each supervisor's lease, so that anyone can tell a supervisor that stopped
-- beating (heartbeat older than its lease) from a live one.
alter table supervisors add column lease_ms int not null default 30000 check (lease_ms > 0);
