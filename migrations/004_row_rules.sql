-- pg-supervisor schema, version 4: rules every row keeps, so that no value
-- written by hand (plain SQL, any language) can stop the claims of other
-- jobs. PostgreSQL's error then names the rule a bad insert broke.
--
-- Rows that already break a rule are mended first, each in the way that
-- loses nothing:
-- - a job due at an infinite time can never be claimed in order: a pending
--   one ends failed, saying why (fix run_at and retry it);
-- - a negative attempt count becomes 0;
-- - a running job without a lease gets one that has expired, so lease
--   recovery returns it to pending (or failed when out of attempts).

update jobs
set job_status = 'failed', finished_at = now(), updated_at = now(), locked_by = null, locked_until = null,
    last_error = format('cannot run: run_at was %s; set a finite run_at and retry the job', run_at)
where not isfinite(run_at) and job_status in ('pending', 'running');
update jobs set run_at = coalesce(finished_at, now()) where not isfinite(run_at);
update jobs set attempts = 0 where attempts < 0;
update jobs set locked_by = coalesce(locked_by, 'unknown'), locked_until = now()
where job_status = 'running' and (locked_by is null or locked_until is null or not isfinite(locked_until));

alter table jobs
  add constraint jobs_run_at_finite check (isfinite(run_at)),
  add constraint jobs_attempts_not_negative check (attempts >= 0),
  add constraint jobs_running_has_lease
    check (job_status <> 'running' or (locked_by is not null and locked_until is not null and isfinite(locked_until)));
