-- pg-supervisor schema, version 11: every attempt's error, not only the
-- last: a JSON array of {attempt, at, error}, the newest last and at most
-- 24 kept, appended where last_error is written (completion, recovery).
-- Null for a job that never failed. last_error stays, as it always was.
alter table jobs add column errors jsonb;
