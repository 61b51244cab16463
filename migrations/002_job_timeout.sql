-- pg-supervisor schema, version 2: a per-job timeout.
-- NULL means the supervisor's --job-timeout applies.
alter table jobs add column timeout_ms int check (timeout_ms is null or timeout_ms > 0);
