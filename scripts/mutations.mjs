#!/usr/bin/env node
// Mutation audit: breaks one condition of the code at a time (a filter, a
// fence, an ordering rule) and checks that the test files named for it
// fail. A mutation that survives is a hole in the suite.
//
//   npm run test:mutations [-- filter]
//
// It edits the compiled test build (build/src/...), one mutation at a time,
// and restores each file afterwards; src/ is never touched. Tests run with
// `node build/test/run.js <files>`, so DATABASE_URL is used when set and an
// embedded PostgreSQL is started otherwise. Takes a few minutes; not part of
// `npm test`.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = (file) => join(root, 'build', 'src', file);

const CLAIM = 'db/sql/supervisor.js';
const PRODUCER = 'db/sql/producer.js';
const LIMITER = 'worker/limiter.js';
const MAINTENANCE = 'db/sql/maintenance.js';

/** [name, file, text to find (exactly once), replacement, test files that must fail] */
const MUTATIONS = [
  // The claim.
  ['claim: any status', CLAIM, `where job_status = 'pending' and concurrency_key is null and priority = priorities.priority`, `where concurrency_key is null and priority = priorities.priority`, ['statements']],
  ['claim: keyed jobs too', CLAIM, `where job_status = 'pending' and concurrency_key is null and priority = priorities.priority`, `where job_status = 'pending' and priority = priorities.priority`, ['flow']],
  ['claim: paused and limited queues too', CLAIM, `where g.paused or g.concurrency is not null or g.rate_limit is not null`, `where false`, ['flow', 'statements']],
  ['claim: not yet due', CLAIM, `and run_at <= now()`, `and true`, ['statements', 'supervisor']],
  ['claim: due inverted', CLAIM, `and run_at <= now()`, `and run_at > now()`, ['statements']],
  ['claim: any task', CLAIM, `and task = any($1::text[])`, `and $1::text[] is not null`, ['statements', 'supervisor']],
  ['claim: any queue', CLAIM, `'and queue = any($5::text[])'`, `'and $5::text[] is not null'`, ['statements', 'supervisor']],
  ['claim: job_id order only', CLAIM, `order by run_at, job_id`, `order by job_id`, ['statements']],
  ['claim: run_at descending', CLAIM, `order by run_at, job_id`, `order by run_at desc, job_id`, ['statements']],
  ['claim: job_id descending', CLAIM, `order by run_at, job_id`, `order by run_at, job_id desc`, ['statements']],
  ['claim: highest priority first', CLAIM, `order by priority limit 1)`, `order by priority desc limit 1)`, ['statements', 'supervisor']],
  ['claim: next priority down', CLAIM, `p.priority > priorities.priority`, `p.priority < priorities.priority`, ['statements']],
  ['claim: no overall limit', CLAIM, `limit \${limit}))`, `))`, ['statements']],
  ['claim: waits for locked jobs', CLAIM, `limit \${limit}\n        for update skip locked`, `limit \${limit}\n        for update`, ['statements']],
  ['claim: attempt not counted', CLAIM, `attempts = least(j.attempts, 2147483646) + 1,`, `attempts = least(j.attempts, 2147483646),`, ['statements']],
  ['claim: attempt count overflows', CLAIM, `attempts = least(j.attempts, 2147483646) + 1,`, `attempts = j.attempts + 1,`, ['statements', 'bad-rows']],
  ['claim: no lease', CLAIM, `locked_until = now() + $4::int * interval '1 millisecond', started_at = now()`, `locked_until = now(), started_at = now()`, ['statements']],
  // The claim while an offer stands.
  ['offer claim: offered slot never taken', CLAIM, `$2::int + (select count(*)::int from mine)`, `$2::int`, ['statements']],
  ['offer claim: withdrawn too early', CLAIM, `(select count(*) from claimed) > $2::int`, `(select count(*) from claimed) >= $2::int`, ['statements']],
  ['offer claim: waits for a producer', CLAIM, `where supervisor_id = $3::text for update skip locked`, `where supervisor_id = $3::text for update`, ['statements']],
  ['offer claim: withdrawal not reported', CLAIM, `and not exists (select 1 from withdrawn)`, ``, ['statements']],
  // The completion fence and outcomes.
  ['complete: fence ignores the holder', CLAIM, `and j.locked_by = $6::text and j.attempts = o.attempt`, `and $6::text is not null and j.attempts = o.attempt`, ['statements', 'leases']],
  ['complete: fence ignores the attempt', CLAIM, `and j.locked_by = $6::text and j.attempts = o.attempt`, `and j.locked_by = $6::text and o.attempt is not null`, ['statements', 'leases']],
  ['complete: fails one attempt late', CLAIM, `when o.kind = 'error' and j.attempts >= j.max_attempts then 'failed'`, `when o.kind = 'error' and j.attempts > j.max_attempts then 'failed'`, ['statements']],
  ['complete: release counts the attempt', CLAIM, `when o.kind in ('release', 'snooze') then j.attempts - 1`, `when o.kind = 'snooze' then j.attempts - 1`, ['statements', 'isolation']],
  ['complete: snooze counts the attempt', CLAIM, `when o.kind in ('release', 'snooze') then j.attempts - 1`, `when o.kind = 'release' then j.attempts - 1`, ['flow']],
  ['complete: snooze due at once', CLAIM, `or o.kind = 'snooze'`, ``, ['flow']],
  ['complete: no retry delay', CLAIM, `then now() + o.retry_delay_ms * interval '1 millisecond'`, `then now()`, ['statements', 'supervisor']],
  ['complete: requeue to the back of the line', CLAIM, `                         else j.run_at end,`, `                         when o.kind in ('requeue', 'release') then now() else j.run_at end,`, ['statements']],
  ['complete: release forgets the last error', CLAIM, `last_error = coalesce(o.error, j.last_error)`, `last_error = o.error`, ['statements']],
  ['complete: never finished', CLAIM, `finished_at = case when o.kind = 'success' or`, `finished_at = case when false or`, ['statements']],
  // Lease extension.
  ['extend: fence ignores the holder', CLAIM, `and j.locked_by = $1::text and j.attempts = h.attempt`, `and $1::text is not null and j.attempts = h.attempt`, ['statements']],
  ['extend: fence ignores the attempt', CLAIM, `and j.locked_by = $1::text and j.attempts = h.attempt`, `and j.locked_by = $1::text and h.attempt is not null`, ['statements']],
  // Recovery.
  ['recover: to the back of the line', CLAIM, `during attempt %s', j.locked_by, j.attempts),`, `during attempt %s', j.locked_by, j.attempts), run_at = now(),`, ['statements', 'leases']],
  ['recover: live leases too', CLAIM, `and j.locked_until < now()`, `and true`, ['statements', 'leases']],
  ['recover: any status', CLAIM, `where lock.held and j.job_status = 'running'`, `where lock.held`, ['statements']],
  ['recover: without the lock', CLAIM, `where lock.held and j.job_status = 'running'`, `where j.job_status = 'running'`, ['statements']],
  ['recover: fails one attempt late', CLAIM, `set job_status = case when j.attempts >= j.max_attempts then 'failed' else 'pending' end,\n           last_error = format`, `set job_status = case when j.attempts > j.max_attempts then 'failed' else 'pending' end,\n           last_error = format`, ['statements']],
  ['recover: removes live supervisors', CLAIM, `s.heartbeat_at < now() - $1::int`, `s.heartbeat_at > now() - $1::int`, ['statements']],
  // Hand-off (insert-job).
  ['hand-off: jobs with a key', PRODUCER, `where spec.job_key is null and`, `where`, ['statements']],
  ['hand-off: jobs with a concurrency key', PRODUCER, `and spec.concurrency_key is null and spec.run_at`, `and spec.run_at`, ['statements']],
  ['hand-off: paused and limited queues', PRODUCER, `and spec.queue <> all(\${GATED_QUEUES})`, ``, ['statements']],
  ['hand-off: jobs for later', PRODUCER, `and spec.run_at <= now()`, ``, ['statements']],
  ['hand-off: unknown tasks', PRODUCER, `and spec.task = any(s.tasks)`, ``, ['statements', 'hand-off']],
  ['hand-off: unserved queues', PRODUCER, `and (s.queues = '{}' or spec.queue = any(s.queues))`, ``, ['statements']],
  ['hand-off: not to a supervisor of every queue', PRODUCER, `and (s.queues = '{}' or spec.queue = any(s.queues))`, `and spec.queue = any(s.queues)`, ['statements']],
  ['hand-off: to a silent supervisor', PRODUCER, `and s.heartbeat_at > now() - f.lease_ms / 2 * interval '1 millisecond'`, ``, ['statements']],
  ['hand-off: large payloads', PRODUCER, `and octet_length(spec.job_data) <= 7000`, ``, ['statements']],
  ['hand-off: oversized notifications', PRODUCER, `::text) <= 7800`, `::text) <= 1000000`, ['statements']],
  ['hand-off: waits for another producer', PRODUCER, `for update of f skip locked`, `for update of f`, ['statements']],
  // Retry, cancel, list.
  ['retry: any status', PRODUCER, `where job_status = any($3::text[])`, `where $3::text[] is not null`, ['statements', 'queue', 'cli']],
  ['retry: any ids', PRODUCER, `and ($1::bigint[] is null or job_id = any($1::bigint[]))`, ``, ['statements']],
  ['retry: any task', PRODUCER, `and ($2::text is null or task = $2::text)\n       returning job_id`, `\n       returning job_id`, ['statements']],
  ['retry: attempts kept', PRODUCER, `set job_status = 'pending', attempts = 0,`, `set job_status = 'pending',`, ['statements', 'queue']],
  ['cancel: finished jobs too', PRODUCER, `and job_status in ('pending', 'running')`, ``, ['statements', 'queue']],
  ['cancel: lease kept', PRODUCER, `set job_status = 'cancelled', finished_at = now(), updated_at = now(), locked_by = null, locked_until = null`, `set job_status = 'cancelled', finished_at = now(), updated_at = now(), locked_until = null`, ['statements']],
  ['cancel: running jobs not told', PRODUCER, `from cancelled where was = 'running'`, `from cancelled where false`, ['flow']],
  ['list: any status', PRODUCER, `from $S.jobs\n       where ($1::text is null or job_status = $1::text)`, `from $S.jobs\n       where true`, ['statements', 'cli']],
  ['list: any task', PRODUCER, `and ($2::text is null or task = $2::text)\n         and ($3::text`, `and ($3::text`, ['statements']],
  ['list: any queue', PRODUCER, `and ($3::text is null or queue = $3::text)\n       order by job_id desc`, `\n       order by job_id desc`, ['statements']],
  ['list: oldest first', PRODUCER, `order by job_id desc`, `order by job_id`, ['statements', 'queue']],
  ['live tasks: silent supervisors too', PRODUCER, `from $S.supervisors where heartbeat_at > now() - lease_ms * interval '1 millisecond'\``, `from $S.supervisors\``, ['statements']],
  ['without runner: any status', PRODUCER, `where job_status = 'pending' and task <> all(array(`, `where task <> all(array(`, ['statements']],
  ['without runner: every task', PRODUCER, `and task <> all(array(`, `and task = any(array(`, ['statements']],
  ['count: no cap', PRODUCER, `         limit $4::int) matching`, `         ) matching`, ['statements']],
  ['claim: start not recorded', CLAIM, `started_at = now(), updated_at = now()`, `updated_at = now()`, ['statements']],
  // Input checks and what threads get.
  ['queue: any jobKey length', 'queue/queue.js', `if (bytes > maxBytes)`, `if (false)`, ['queue', 'cli']],
  ['queue: NUL in a payload', 'queue/queue.js', `if (NUL_ESCAPE.test(text))`, `if (false)`, ['queue', 'cli']],
  ['errors: NUL kept in last_error', 'worker/errors.js', `text = text.replaceAll('\\0', '\\\\0');`, ``, ['supervisor']],
  ['threads: see the database URL', 'worker/pool.js', `env: threadEnvironment(process.env, options.databaseUrl),`, ``, ['supervisor']],
  ['connections: no connect timeout', 'db/connect.js', `connectionTimeoutMillis: connectTimeoutMs,`, ``, ['cli']],
  ['threads: stray errors kill the thread', 'worker/thread.js', `process.on('unhandledRejection', (reason) => stray(reason, 'an unhandled promise rejection'));`, ``, ['isolation']],
  ['threads: no default heap limit', 'supervisor/supervisor.js', `config.threadMemoryMb ?? defaultThreadMemoryMb(config.threads)`, `config.threadMemoryMb ?? 0`, ['isolation']],
  ['logs: a failed job says nothing', 'supervisor/job-flow.js', `if (written === 'failed')\n            this.parts.log.warn(`, `if (false)\n            this.parts.log.warn(`, ['isolation']],
  // Maintenance: the leader, retention, vacuum, and the gauge that reads the big table.
  ['leader: takes a live term', MAINTENANCE, `where l.supervisor_id = excluded.supervisor_id or l.expires_at < now()`, `where true`, ['services', 'maintenance']],
  ['leader: never resigns', 'supervisor/leadership.js', `await pool.query(sql.resignLeader, [supervisorId])`, `await Promise.resolve()`, ['services']],
  ['leader: followers run maintenance', 'supervisor/leader-task.js', `health.isDown || !leads()`, `health.isDown`, ['services']],
  ['retention: young jobs too', MAINTENANCE, `coalesce(finished_at, updated_at) < now() - $1::bigint`, `coalesce(finished_at, updated_at) < now() + $1::bigint`, ['maintenance', 'services']],
  ['retention: kept forever means nothing', 'supervisor/retention.js', `if (periods[status] === 0)\n            continue;`, ``, ['maintenance']],
  ['retention: one batch only', 'supervisor/retention.js', `count === PRUNE_BATCH && !stopped();`, `count === PRUNE_BATCH && !stopped() && deleted[status] === 0;`, ['maintenance']],
  ['vacuum: never needed', MAINTENANCE, `n_dead_tup >= greatest(10000, n_live_tup / 100)`, `n_dead_tup >= greatest(1000000000, n_live_tup / 100)`, ['services']],
  ['gauge: failed counted as successes', 'db/sql/metrics.js', `where job_status = 'failed' group by queue`, `where job_status = 'success' group by queue`, ['metrics']],
  ['logs: a thread death says nothing', 'worker/pool.js', `this.log.error({ threadId, cause: death.cause`, `this.log.debug({ threadId, cause: death.cause`, ['isolation']],
  ['tables: control characters shown raw', 'commands/table.js', `const shown = printable(text);`, `const shown = text;`, ['cli']],
  // Flow control and scheduling.
  ['gates: never open', 'supervisor/gates.js', `return this.limited || this.keyed;`, `return false;`, ['flow']],
  ['cancel: signal not aborted', 'supervisor/job-flow.js', `held.batch.progress.requestAbort(held.index, 4 /* AbortReason.Cancelled */);`, ``, ['flow']],
  ['cron: no key per tick', 'db/sql/flow.js', `'cron:' || m.name || ':' ||`, `null::text || m.name || ':' ||`, ['services']],
  ['snooze: taken for success', 'worker/thread.js', `if (value instanceof Snooze)`, `if (false)`, ['flow']],
  // The producer side.
  ['wait: job never marked', PRODUCER, `set awaited = true`, `set awaited = awaited`, ['wait-for']],
  ['progress: any attempt', CLAIM, `and j.attempts = p.attempt`, `and true`, ['services']],
  ['progress: last report not with the outcome', 'db/sql/supervisor.js', `progress = coalesce(o.progress::jsonb, j.progress),`, ``, ['results']],
  ['progress: written after the job ended', CLAIM, `and j.attempts = p.attempt and j.job_status = 'running'`, `and j.attempts = p.attempt`, ['services']],
  ['events: started never emitted', 'supervisor/job-events.js', `if (this.emitter.listenerCount('started') === 0)`, `if (true)`, ['events']],
  ['tracing: job span without its parent', 'supervisor/job-tracing.js', `propagation.extract(context.active(), JSON.parse(job.traceContext))`, `context.active()`, ['tracing']],
  ['tracing: context not recorded', 'queue/trace-context.js', `propagation.inject(active, carrier);`, ``, ['tracing']],
  ['tracing: hand-off drops the context', PRODUCER, `'trace_context', a.trace_context::text)`, `'trace_context', null)`, ['tracing']],
  // The web console's access rules.
  ['console: cross-site change allowed', 'console/access.js', `if (site !== undefined && site !== 'same-origin' && site !== 'none')`, `if (false)`, ['console']],
  ['console: any bind without a token', 'console/access.js', `if (!LOOPBACK.has(host) && !token) {`, `if (false) {`, ['console']],
  ['console: token not checked', 'console/access.js', `if (!token)\n        return true;`, `return true;`, ['console']],
  ['console: read-only ignored', 'console/api.js', `if (!this.allowActions)`, `if (false)`, ['services']],
  ['jobs: keyset page ignored', 'db/sql/job-filter.js', `($2::bigint is null or j.job_id < $2::bigint)`, `true`, ['statements', 'queue']],
  ['errors: history not kept', CLAIM, `errors = case when o.error is null then j.errors else`, `errors = case when true then j.errors else`, ['statements']],
  // Connections: how many, and what goes through a pooler.
  ['connections: two write connections', 'db/connect.js', `const writePool = newPool({ max: 1, min: 1,`, `const writePool = newPool({ max: 2, min: 2,`, ['connections']],
  ['pooler: statements prepared', 'db/pooler-client.js', `const { name: _unprepared, local, ...unnamed } = config;`, `const { local, ...unnamed } = config;`, ['pgbouncer', 'connect']],
  ['pooler: no SET LOCAL', 'db/pooler-client.js', 'run(`begin; set local ${local}`)', "run('begin')", ['connect']],
  ['vacuum: offer kept while lent', 'supervisor/wakeup.js', `this.lent = true;\n        this.options.lost();`, `this.lent = true;`, ['services']],
  // The worker thread's limiter.
  ['limiter: newest waiter first', LIMITER, `this.waiting.shift()`, `this.waiting.pop()`, ['worker']],
  ['limiter: one over its limit', LIMITER, `this.running < this.limit`, `this.running <= this.limit`, ['worker']],
  ['limiter: slot never freed', LIMITER, `else\n                this.running--;`, `else\n                void 0;`, ['worker']],
];

function runTests(files) {
  const result = spawnSync(process.execPath, [join(root, 'build', 'test', 'run.js'), ...files], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TEST_TIMEOUT_MS: '30000' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const failed = [...result.stdout.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1].replace(/\s+#.*$/, ''));
  return { code: result.status, failed };
}

const filter = process.argv[2];
const chosen = MUTATIONS.filter(([name]) => !filter || name.includes(filter));
let survived = 0;
for (const [name, file, find, replace, tests] of chosen) {
  const path = build(file);
  const original = readFileSync(path, 'utf8');
  const count = original.split(find).length - 1;
  if (count !== 1) {
    console.log(`?? ${name}: the text to mutate occurs ${count} times in build/src/${file}; update this script`);
    survived++;
    continue;
  }
  writeFileSync(path, original.replace(find, () => replace));
  try {
    const { code, failed } = runTests(tests);
    if (code === 0) {
      survived++;
      console.log(`SURVIVED ${name} (${tests.join(', ')} passed)`);
    } else {
      console.log(`caught   ${name}: ${failed[0] ?? `exit code ${code}`}`);
    }
  } finally {
    writeFileSync(path, original);
  }
}
console.log(`${chosen.length - survived} of ${chosen.length} mutations caught`);
process.exit(survived === 0 ? 0 : 1);
