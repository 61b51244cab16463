// Runs one scenario for one system in this process and prints one JSON line.
//   node scenario.js <scenario> <system> '<options json>'
// The orchestrator (run.js) starts a fresh process per run, so one system's
// heap, threads and connections never slow the next.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname, setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { dropSchema, now, pool, sleep, until } from './systems/common.js';

/** The q-quantile of xs (nearest rank). */
function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const [scenario, systemName, optionsJson = '{}'] = process.argv.slice(2);
const options = JSON.parse(optionsJson);
const url = process.env.BENCH_DATABASE_URL;
const schema = `bench_${systemName.replace(/\W/g, '_')}_${process.pid}`;

async function system(extra = {}) {
  const [module, mode] = systemName.split(':');
  const { create } = await import(`./systems/${module}.js`);
  return create({ url, schema, mode, ...options, ...extra });
}

/** Fresh planner statistics for every table of a schema, as autovacuum would give them shortly. */
async function analyze(p, target = schema) {
  const { rows } = await p.query('select tablename from pg_tables where schemaname = $1', [target]);
  for (const { tablename } of rows) await p.query(`analyze "${target}"."${tablename}"`);
}

/** Database-side costs over a measured interval: transactions, WAL bytes, server CPU. */
async function serverCounters(p) {
  // Backends report their statistics lazily: at exit, or after a while idle.
  await sleep(500);
  await p.query('select pg_stat_clear_snapshot()');
  const { rows: [row] } = await p.query(`select (select xact_commit + xact_rollback from pg_stat_database where datname = current_database())::float8 as xacts,
      pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 as wal, current_setting('data_directory') as dir`);
  return { xacts: row.xacts, wal: row.wal, cpu: postgresCpuSeconds(row.dir), dir: row.dir };
}

/** CPU seconds of this process's main thread (the rest of its CPU is worker, GC and libuv threads); NaN without /proc. */
function mainThreadCpuSeconds() {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of process `pid`, every thread, since it started; NaN without /proc. */
function processCpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of the PostgreSQL server and its exited and live children, when its files can be read. */
function postgresCpuSeconds(dataDir) {
  try {
    const pid = Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
    const fields = (p) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
    const own = fields(pid);
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const child of children) {
      try { const f = fields(child); ticks += Number(f[11]) + Number(f[12]); } catch { /* exited meanwhile */ }
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** `count` `supervisor` processes (`--threads 1 --concurrency 64` unless told) on the scenario's schema, or `target`. */
function supervisorProcesses(count, { threads = 1, concurrency = 64, schema: target = schema } = {}) {
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const tasks = fileURLToPath(new URL('./tasks/bench-tasks.js', import.meta.url));
  return Array.from({ length: count }, () =>
    spawn(process.execPath, [cli, '--tasks', tasks, '--threads', String(threads), '--concurrency', String(concurrency), '--schema', target, '--metrics-port', '0', '--log-level', 'warn'], {
      env: { ...process.env, DATABASE_URL: url }, stdio: 'ignore',
    }));
}

/** Stops processes with SIGTERM (a graceful drain) and waits for them to exit. */
async function stopProcesses(children) {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))));
}

/**
 * Stops a scale-out group's processes (SIGSTOP) while the others drain, once
 * none of them is inside a transaction: a stopped one would hold back every
 * vacuum of the database.
 */
async function pauseGroup(p, { children }) {
  const names = children.map((child) => `${hostname()}:${child.pid}:%`);
  for (;;) {
    for (const child of children) child.kill('SIGSTOP');
    const { rows: [{ busy }] } = await p.query(`select count(*)::int as busy from pg_stat_activity where application_name like any($1) and (state <> 'idle' or backend_xmin is not null)`, [names]);
    if (busy === 0) return;
    resumeGroup({ children });
    await sleep(50);
  }
}

/** Lets a stopped group's processes go on (SIGCONT). */
function resumeGroup({ children }) {
  for (const child of children) child.kill('SIGCONT');
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * The order in which `items` take turns over `rounds` rounds: as given,
 * then reversed, and so on, so that a machine whose speed drifts during a
 * run drifts for every item alike.
 */
const turns = (items, rounds = 1) => Array.from({ length: rounds }, (_, round) => (round % 2 === 0 ? items : [...items].reverse())).flat();
/** Scale-out measures reported by their worst drain rather than their median. */
const WORST_OF = new Set(['ClaimsPerJob', 'ConnectionsPerSupervisor', 'RanTwice']);

/** Median time of `runs` calls of `fn`, in ms. */
async function medianMs(fn, runs) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** Schemas a scenario creates besides its own, dropped with it. */
const extraSchemas = [];

/**
 * Drains the `n` jobs just inserted into system `s` (set up, not started):
 * the steady rate, the same way for every system, from its first
 * completed job to its last, so that process start-up (our thread pool,
 * their connection set-up) is left out; Node and server costs over the
 * same span.
 */
async function measureDrain(s, p, n) {
  await analyze(p, s.schema);
  const before = await serverCounters(p);
  await s.start();
  await until('first completion', () => s.done() > 0);
  const t0 = performance.now();
  const doneAtStart = s.done();
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuSeconds();
  await until('drain', () => s.done() >= n);
  const mainSeconds = mainThreadCpuSeconds() - main0;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const measured = n - doneAtStart;
  // Closing the system's connections makes their backends report their statistics.
  await s.teardown();
  const after = await serverCounters(p);
  return {
    jobsPerSecond: measured / seconds,
    nodeCpuUsPerJob: (cpu.user + cpu.system) / measured,
    mainThreadCpuUsPerJob: Number.isNaN(mainSeconds) ? undefined : (mainSeconds * 1e6) / measured,
    pgCpuUsPerJob: before.cpu === undefined ? undefined : ((after.cpu - before.cpu) * 1e6) / n,
    xactsPer1kJobs: ((after.xacts - before.xacts - 2) * 1000) / n,
    walBytesPerJob: (after.wal - before.wal) / n,
  };
}

const scenarios = {
  async drain() {
    const s = await system();
    await s.setup();
    await s.insert(options.n);
    const p = pool(url);
    const result = await measureDrain(s, p, options.n);
    await p.end();
    return result;
  },

  /**
   * pg-supervisor only: the same drain on an empty table and on a table
   * that also holds `finished` finished jobs (95% succeeded, 4% failed, 1%
   * cancelled, finished over the last 12 hours) and `scheduled` jobs due
   * tomorrow, alternated `rounds` times in this one process. Also times,
   * on both tables, the queue-depth gauge's query and a claim that finds
   * nothing due (the cost every poll pays).
   */
  async bigTable() {
    const { n, finished, scheduled, rounds } = options;
    const bigSchema = schema;
    const emptySchema = `${schema}_empty`;
    extraSchemas.push(emptySchema);
    const p = pool(url);
    const fill = await system({ schema: bigSchema });
    await fill.setup();
    await fill.teardown();
    const filled = performance.now();
    await p.query(
      `insert into "${bigSchema}".jobs (task, job_status, attempts, created_at, run_at, started_at, updated_at, finished_at, last_error)
       select 'noop', case when i % 100 < 95 then 'success' when i % 100 < 99 then 'failed' else 'cancelled' end, 1,
              t, t, t, t, t, case when i % 100 between 95 and 98 then 'Error: failed on purpose' end
       from generate_series(1, $1::int) i, lateral (select now() - (i::float8 / $1) * interval '12 hours' as t) x`,
      [finished],
    );
    await p.query(`insert into "${bigSchema}".jobs (task, run_at) select 'noop', now() + interval '1 day' + i * interval '1 ms' from generate_series(1, $1::int) i`, [scheduled]);
    await p.query(`vacuum (analyze) "${bigSchema}".jobs`);
    const fillSeconds = (performance.now() - filled) / 1000;
    const empty = [];
    const big = [];
    for (let round = 0; round < rounds; round++) {
      for (const [target, results] of [[emptySchema, empty], [bigSchema, big]]) {
        const s = await system({ schema: target });
        await s.setup();
        // The empty table starts every round empty; the big one keeps what it drained.
        if (target === emptySchema) await p.query(`truncate "${emptySchema}".jobs`);
        await s.insert(n);
        results.push((await measureDrain(s, p, n)).jobsPerSecond);
      }
    }
    const { metricsStatements } = await import('../dist/db/sql/metrics.js');
    const { supervisorStatements } = await import('../dist/db/sql/supervisor.js');
    // On a connection set up as the supervisor's are (no JIT).
    const client = await p.connect();
    await client.query('set jit = off');
    const timing = async (target) => {
      const depth = metricsStatements(target).queueDepth;
      const claim = supervisorStatements(target, []).claimJobs;
      return {
        depthMs: await medianMs(() => client.query(depth), 5),
        claimMs: await medianMs(() => client.query(claim, [['noop'], 100, 'bench', 30_000]), 20),
      };
    };
    const emptyTiming = await timing(emptySchema);
    const bigTiming = await timing(bigSchema);
    client.release();
    const { rows: [size] } = await p.query(`select count(*)::int as rows, pg_total_relation_size($1::regclass)::float8 as bytes from "${bigSchema}".jobs`, [`"${bigSchema}".jobs`]);
    await p.end();
    return {
      emptyJobsPerSecond: median(empty),
      bigJobsPerSecond: median(big),
      bigOverEmpty: median(big) / median(empty),
      emptyDepthMs: emptyTiming.depthMs,
      bigDepthMs: bigTiming.depthMs,
      emptyClaimMs: emptyTiming.claimMs,
      bigClaimMs: bigTiming.claimMs,
      emptyRounds: empty,
      bigRounds: big,
      bigRows: size.rows,
      bigTableMb: size.bytes / 2 ** 20,
      fillSeconds,
    };
  },

  /**
   * pg-supervisor only: the web console's reads on a table of `rows`
   * finished jobs (95% succeeded, 4% failed, 1% cancelled, over 10 queues
   * and 20 tasks, each payload naming one of 1,000 customers): the median
   * of `runs` calls of each API read, in this process (ConsoleApi over the
   * Queue, without HTTP), on a connection without JIT as the console's.
   */
  async consolePages() {
    const { rows, runs } = options;
    const p = pool(url);
    const fill = await system({ schema });
    await fill.setup();
    await fill.teardown();
    const filled = performance.now();
    await p.query(
      `insert into "${schema}".jobs (task, queue, job_data, job_status, attempts, created_at, run_at, started_at, updated_at, finished_at, last_error)
       select 'task' || (i % 20), 'queue' || (i % 10), jsonb_build_object('customer', 'c-' || (i % 1000), 'order', i),
              case when i % 100 < 95 then 'success' when i % 100 < 99 then 'failed' else 'cancelled' end, 1,
              t, t, t, t, t, case when i % 100 between 95 and 98 then 'Error: card declined for order ' || i end
       from generate_series(1, $1::int) i, lateral (select now() - (($1 - i)::float8 / $1) * interval '12 hours' as t) x`,
      [rows],
    );
    await p.query(`vacuum (analyze) "${schema}".jobs`);
    const fillSeconds = (performance.now() - filled) / 1000;
    const { Queue } = await import('../dist/index.js');
    const { ConsoleApi } = await import('../dist/console/api.js');
    const consolePool = pool(url);
    consolePool.on('connect', (client) => client.query('set jit = off'));
    const api = new ConsoleApi(new Queue({ pool: consolePool, schema }), consolePool, false);
    const get = (parts, query = {}) => async () => {
      const reply = await api.handle({ method: 'GET', parts, query: new URLSearchParams(query), body: {} });
      if (reply.status !== 200) throw new Error(JSON.stringify(reply.body));
      return reply.body;
    };
    const middle = String(Math.floor(rows / 2));
    const reads = {
      firstPageMs: get(['jobs']),
      pageInTheMiddleMs: get(['jobs'], { before: middle }),
      failedPageMs: get(['jobs'], { status: 'failed' }),
      cancelledPageMs: get(['jobs'], { status: 'cancelled' }),
      queuePageMs: get(['jobs'], { queue: 'queue3' }),
      taskPageMs: get(['jobs'], { task: 'task7' }),
      searchPageMs: get(['jobs'], { search: '"c-42"' }),
      errorSearchPageMs: get(['jobs'], { status: 'failed', search: 'declined' }),
      countFailedMs: get(['jobs', 'count'], { status: 'failed' }),
      jobMs: get(['jobs', middle]),
      overviewMs: get(['overview']),
    };
    const result = { rows, fillSeconds };
    for (const [name, read] of Object.entries(reads)) {
      await read(); // prepares the statement
      result[name] = await medianMs(read, runs);
    }
    await consolePool.end();
    await p.end();
    return result;
  },

  /**
   * pg-supervisor only: a steady load for `minutes`: `rate` jobs a second
   * added in batches every 100 ms (1% of them failing every attempt),
   * drained by one supervisor whose retention keeps finished jobs for
   * `keep`. Every `sampleSeconds`: the table's size with its indexes, its
   * heap alone, live and dead rows, the backlog, and the jobs finished in
   * the interval.
   */
  async soak() {
    const { minutes, rate, keep, sampleSeconds } = options;
    const s = await system({ concurrency: 64, supervisorOptions: { keepSucceeded: keep, keepFailed: keep, keepCancelled: keep, logLevel: 'error' } });
    await s.setup();
    await s.start();
    const p = pool(url);
    const table = `"${schema}".jobs`;
    const perTick = rate / 10;
    let added = 0;
    let adding = false;
    const producer = setInterval(() => {
      if (adding) return; // a slow insert skips a tick rather than piling up
      adding = true;
      const fails = Math.round(perTick / 100);
      Promise.all([s.insert(perTick - fails), fails > 0 ? s.insert(fails, 'fail') : undefined])
        .then(() => (added += perTick), () => undefined)
        .finally(() => (adding = false));
    }, 100);
    const samples = [];
    const started = performance.now();
    let lastFinished = 0;
    while (performance.now() - started < minutes * 60_000) {
      await sleep(sampleSeconds * 1000);
      const finishedNow = s.finished();
      const { rows: [row] } = await p.query(
        `select pg_total_relation_size($1::regclass)::float8 as total, pg_relation_size($1::regclass)::float8 as heap,
                (select count(*) from ${table} where job_status = 'pending' and run_at <= now())::int as backlog,
                st.n_live_tup::int as live, st.n_dead_tup::int as dead
         from pg_stat_user_tables st where st.relid = $1::regclass`,
        [table],
      );
      samples.push({
        minute: (performance.now() - started) / 60_000,
        jobsPerSecond: (finishedNow - lastFinished) / sampleSeconds,
        totalMb: row.total / 2 ** 20,
        heapMb: row.heap / 2 ** 20,
        live: row.live,
        dead: row.dead,
        backlog: row.backlog,
      });
      lastFinished = finishedNow;
      process.stderr.write(`${JSON.stringify(samples.at(-1))}\n`);
    }
    clearInterval(producer);
    await s.teardown();
    await p.end();
    // "After the first few minutes": the largest size seen in minutes 3 to 5.
    const early = samples.filter((x) => x.minute >= 3 && x.minute <= 5.01);
    const earlyMb = Math.max(...(early.length ? early : samples.slice(0, 1)).map((x) => x.totalMb));
    const steady = samples.slice(1); // the first interval includes start-up
    const rates = steady.map((x) => x.jobsPerSecond);
    return {
      jobsPerSecond: added / (minutes * 60),
      earlyMb,
      endMb: samples.at(-1).totalMb,
      endOverEarly: samples.at(-1).totalMb / earlyMb,
      minJobsPerSecond: Math.min(...rates),
      maxJobsPerSecond: Math.max(...rates),
      samples,
    };
  },

  /**
   * Enqueue → handler start, one job at a time on an idle system, `gapMs`
   * apart. With `warmup`: `samples` jobs right after start (cold), then
   * `warmup` jobs back to back, unmeasured, then `samples` jobs again (the
   * headline: the steady state of a supervisor that has been up a while).
   * The first jobs are slower for every system: V8 is still compiling its
   * hot path, on the same two cores the job passes through.
   */
  async latency() {
    const s = await system();
    await s.setup();
    const starts = new Map();
    // Woken by the start itself, not by polling: a timer firing every few
    // milliseconds would itself wake the cores the jobs run on.
    let waiting;
    const record = (i, at) => {
      starts.set(i, at);
      if (waiting?.i === i) waiting.resolve();
    };
    const started = (i) => new Promise((resolve, reject) => {
      if (starts.has(i)) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for job ${i} to start`)), 10_000);
      waiting = { i, resolve: () => { clearTimeout(timer); resolve(); } };
    });
    let channel;
    if (s.latencyChannel) {
      channel = new BroadcastChannel('pg-supervisor-bench');
      channel.onmessage = ({ data }) => record(data.i, data.startedAt);
    } else {
      s.setLatencyHandler(record);
    }
    await s.start();
    await sleep(500);
    let next = 0;
    /** Enqueues `count` jobs one at a time, `gapMs` apart; returns their latencies and enqueue times. */
    const oneAtATime = async (count, gapMs) => {
      const latencies = [];
      const enqueues = [];
      for (let n = 0; n < count; n++) {
        const i = next++;
        const enqueuedAt = now();
        await s.enqueueOne(i);
        enqueues.push(now() - enqueuedAt);
        await started(i);
        latencies.push(starts.get(i) - enqueuedAt);
        if (gapMs > 0) await sleep(gapMs);
      }
      return { latencies, enqueues };
    };
    // Without `warmup`, one set of samples right after start.
    const cold = options.warmup === undefined ? undefined : await oneAtATime(options.samples, options.gapMs);
    if (cold) await oneAtATime(options.warmup, 0);
    const measured = await oneAtATime(options.samples, options.gapMs);
    channel?.close();
    await s.teardown();
    // The enqueue's own round trip (insert, notification, durable commit) is
    // the floor under every system's latency; reported beside it.
    return {
      p50Ms: quantile(measured.latencies, 0.5),
      p99Ms: quantile(measured.latencies, 0.99),
      ...(cold ? { coldP50Ms: quantile(cold.latencies, 0.5), coldP99Ms: quantile(cold.latencies, 0.99) } : {}),
      enqueueP50Ms: quantile(measured.enqueues, 0.5),
      enqueueP99Ms: quantile(measured.enqueues, 0.99),
    };
  },

  async insert() {
    const s = await system();
    await s.setup();
    const t0 = performance.now();
    await s.insert(options.n);
    const seconds = (performance.now() - t0) / 1000;
    await s.teardown();
    return { jobsPerSecond: options.n / seconds };
  },

  /** pg-supervisor only: CPU-bound jobs (a busy loop) on 1 or 2 threads. */
  async cpu() {
    const s = await system({ threads: options.threads, concurrency: options.concurrency });
    await s.setup();
    await s.start();
    await sleep(500);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    const t0 = performance.now();
    delay.enable();
    await s.insert(options.n, 'cpu', () => ({ ms: options.ms }));
    await until('drain', () => s.done() >= options.n);
    delay.disable();
    const seconds = (performance.now() - t0) / 1000;
    await s.teardown();
    return { jobsPerSecond: options.n / seconds, eventLoopP99Ms: delay.percentile(99) / 1e6 };
  },

  /**
   * pg-supervisor only: statements an idle supervisor sends, counted in the
   * client (the server's own counters also count autovacuum and others).
   */
  async idle() {
    const { default: productPg } = await import('../node_modules/pg/lib/index.js');
    let statements = 0;
    const query = productPg.Client.prototype.query;
    productPg.Client.prototype.query = function (...args) {
      statements++;
      return query.apply(this, args);
    };
    const s = await system();
    await s.setup();
    await s.start();
    await sleep(2000);
    const before = statements;
    await sleep(options.seconds * 1000);
    const sent = statements - before;
    await s.teardown();
    return { queriesPerSecond: sent / options.seconds };
  },

  /**
   * pg-supervisor only: `options.supervisors` supervisor processes drain
   * `options.n` no-op jobs of one queue, first with no limit and then with
   * `--concurrency options.limit` on the queue (alternated `options.rounds`
   * times): what a cluster-wide limit costs, from first completion to last.
   */
  async limited() {
    const s = await system();
    await s.setup();
    await s.teardown();
    const p = pool(url);
    const drainOnce = async (limit) => {
      await p.query(`truncate "${schema}".jobs, "${schema}".queues cascade`);
      if (limit) await p.query(`insert into "${schema}".queues (queue, concurrency) values ('limited', $1)`, [limit]);
      await p.query(`insert into "${schema}".jobs (task, queue) select 'noop', 'limited' from generate_series(1, $1)`, [options.n]);
      await analyze(p);
      const children = supervisorProcesses(options.supervisors);
      const done = async () => (await p.query(`select count(*)::int as n from "${schema}".jobs where job_status = 'success'`)).rows[0].n;
      await until('first completion', async () => (await done()) > 0, 60_000, 20);
      const t0 = performance.now();
      const first = await done();
      await until('drain', async () => (await done()) >= options.n, 600_000, 20);
      const seconds = (performance.now() - t0) / 1000;
      await stopProcesses(children);
      return (options.n - first) / seconds;
    };
    const unlimited = [];
    const limited = [];
    for (let round = 0; round < options.rounds; round++) {
      unlimited.push(await drainOnce(0));
      limited.push(await drainOnce(options.limit));
    }
    await p.end();
    return { unlimitedJobsPerSecond: median(unlimited), limitedJobsPerSecond: median(limited), limitedOverUnlimited: median(limited) / median(unlimited) };
  },

  /**
   * pg-supervisor only: `n` no-op jobs drained by 1, 2, 4, … (`counts`)
   * supervisor processes (`--threads 1 --concurrency 64` each, or
   * `threads` and `concurrency`) on one database. Each count is a group of
   * processes with a schema of its own, and drains `n` jobs again and again,
   * each time on a fresh table and timed from the moment they all fall due
   * to the last one's end: first cold, as soon as the group has started
   * (every process compiles its hot path while it drains, a cost each
   * process pays once, so N processes pay it N times on the same jobs),
   * then warm, once every process has run `warmup` jobs (what supervisors
   * that have run a while do), `rounds` times. The warm drains take turns:
   * round by round, every group drains once, in the order of `counts` and
   * then the reverse, while the other groups are stopped (SIGSTOP: no CPU,
   * no claims), so a machine whose speed drifts during the run (a shared
   * host) drifts for every count alike. From the warm drains, their
   * medians of jobs/s, PostgreSQL's and the supervisors' CPU per job and
   * transactions per job, and their worst of claims (attempts) per job,
   * the most connections of one supervisor, and how many jobs took more
   * than one attempt (ran twice); from the cold one, jobs/s.
   */
  async scaleOut() {
    const p = pool(url);
    const result = {};
    // A supervisor's connections carry its id, host:pid:random, as application_name.
    const connections = async () => (await p.query(`select coalesce(sum(n), 0)::int as n, max(n)::int as most from (select application_name, count(*) as n from pg_stat_activity where backend_type = 'client backend' and datname = current_database() and application_name like $1 group by 1) s`, [`${hostname()}:%`])).rows[0];
    // Whether a group's drain is over, cheaply: jobs are claimed in job_id
    // order (one priority, one run_at), so until the last one is claimed a
    // look at it (by primary key) says "not yet"; only then is the whole
    // table looked at, which walks the dead entries every claim left.
    const left = async (target, lastId) => {
      const last = (await p.query(`select job_status from "${target}".jobs where job_id = $1`, [lastId])).rows[0];
      if (last?.job_status === 'pending') return true;
      return (await p.query(`select exists (select 1 from "${target}".jobs where job_status in ('pending', 'running')) as x`)).rows[0].x;
    };
    // The drains start together at a moment `lead` ms ahead, when every
    // job falls due at once. Until then each claim stops at the first job
    // (not yet due), so the supervisors do no work before the clock starts:
    // no backlog of a paused queue to read and skip, which would cost each
    // of them a walk of the whole table on every poll. The lead grows if
    // adding the jobs ever takes longer.
    let lead = 3000;
    /** Drains `n` fresh jobs with a group's processes. */
    const timedDrain = async ({ target, children }, n = options.n) => {
      for (;;) {
        await p.query(`truncate "${target}".jobs`);
        const { rows: [start] } = await p.query(`select now() + $1::int * interval '1 millisecond' as at`, [lead]);
        // Analyzed before the jobs are seen: the supervisors' plans for an
        // empty table (TRUNCATE leaves it with no statistics) would read the
        // whole table on every claim until an ANALYZE.
        const client = await p.connect();
        let last;
        try {
          await client.query('begin');
          ({ rows: [{ last }] } = await client.query(`with added as (insert into "${target}".jobs (task, run_at) select 'noop', $2::timestamptz from generate_series(1, $1) returning job_id) select max(job_id) as last from added`, [n, start.at]));
          await analyze(client, target);
          await client.query('commit');
        } finally {
          client.release();
        }
        // Every drain starts right after a checkpoint: none has one land in
        // its middle by chance (each drain writes a few hundred MB of WAL,
        // so they come every few drains), and each writes the same full
        // page images (the first change of a page after a checkpoint logs
        // the whole page), whose cost moved drains by a fifth.
        await p.query('checkpoint');
        const before = await serverCounters(p);
        const { rows: [{ ms }] } = await p.query(`select extract(epoch from $1::timestamptz - clock_timestamp()) * 1000 as ms`, [start.at]);
        if (ms < 50) {
          lead *= 2;
          continue;
        }
        await sleep(ms);
        // CPU is counted over the drain alone (the counters' settle time would add the leader's maintenance after it).
        const pgCpuBefore = postgresCpuSeconds(before.dir);
        const cpuBefore = children.reduce((sum, child) => sum + processCpuSeconds(child.pid), 0);
        const t0 = performance.now();
        // The wake-up an insert of due jobs gives: without it, the supervisors would find them at their next poll.
        await p.query('select pg_notify($1, $2)', [`${target}_jobs`, '']);
        let mostPerSupervisor = 0;
        await until('drain', async () => {
          mostPerSupervisor = Math.max(mostPerSupervisor, (await connections()).most ?? 0);
          return !(await left(target, last));
        }, 900_000, 100);
        const seconds = (performance.now() - t0) / 1000;
        const pgCpuAfter = postgresCpuSeconds(before.dir);
        const cpuAfter = children.reduce((sum, child) => sum + processCpuSeconds(child.pid), 0);
        const after = await serverCounters(p);
        return {
          JobsPerSecond: n / seconds,
          PgCpuUsPerJob: pgCpuBefore === undefined ? null : ((pgCpuAfter - pgCpuBefore) * 1e6) / n,
          SupervisorCpuUsPerJob: ((cpuAfter - cpuBefore) * 1e6) / n,
          XactsPerJob: (after.xacts - before.xacts) / n,
          ClaimsPerJob: (await p.query(`select (sum(attempts)::float8 / count(*)) as x from "${target}".jobs`)).rows[0].x,
          ConnectionsPerSupervisor: mostPerSupervisor,
          RanTwice: (await p.query(`select count(*)::int as n from "${target}".jobs where attempts > 1`)).rows[0].n,
        };
      }
    };
    const groups = [];
    try {
      for (const count of options.counts) {
        const target = `${schema}_${count}`;
        extraSchemas.push(target);
        const s = await system({ schema: target });
        await s.setup();
        await s.teardown();
        const started = groups.reduce((sum, group) => sum + group.count, 0);
        // Started before the clock, on an empty table: no supervisor's start-up competes with the others' drain.
        const group = { count, target, children: supervisorProcesses(count, { threads: options.threads, concurrency: options.concurrency, schema: target }), warm: [] };
        groups.push(group);
        if (options.nice) for (const child of group.children) setPriority(child.pid, options.nice);
        await until('every supervisor started', async () => (await connections()).n >= 3 * (started + count), 120_000, 50);
        group.cold = await timedDrain(group);
        // Warm means every process has run `warmup` jobs: 8 processes share
        // the cold drain's jobs 8 ways, and still compile while the next
        // drain begins, so they get the difference first.
        const more = count * (options.warmup ?? 0) - options.n;
        if (more > 0) await timedDrain(group, more);
        await pauseGroup(p, group);
      }
      for (const group of turns(groups, options.rounds)) {
        resumeGroup(group);
        group.warm.push(await timedDrain(group));
        await pauseGroup(p, group);
      }
    } finally {
      for (const group of groups) resumeGroup(group);
      await Promise.all(groups.map((group) => stopProcesses(group.children)));
    }
    for (const { count, cold, warm } of groups) {
      // Rates by their median; what must never happen (a job run twice, a
      // claim too many, a fourth connection) by the worst drain.
      for (const key of Object.keys(warm[0])) result[`s${count}${key}`] = (WORST_OF.has(key) ? Math.max : (...xs) => median(xs))(...warm.map((drain) => drain[key]));
      result[`s${count}ColdJobsPerSecond`] = cold.JobsPerSecond;
      // Each round's, in the results file: how much one drain moves.
      result[`s${count}WarmJobsPerSecondByRound`] = warm.map((drain) => Math.round(drain.JobsPerSecond));
    }
    await p.end();
    return result;
  },

  /**
   * The control for scaleOut: the same machine's cost of running 1, 2, 4,
   * … (`counts`) Node.js processes that do nothing but database round
   * trips, with no pg-supervisor code. Each count splits the same
   * `connections` connections between its processes (bare-client.js), and
   * every connection runs a one-row prepared statement back to back for
   * `seconds`: the same work, on the same number of busy backends, by
   * more processes. The counts take turns, `rounds` times, in the order of
   * `counts` and then the reverse. Reports, by their medians, statements/s,
   * the processes' CPU per statement and PostgreSQL's.
   */
  async processCount() {
    const p = pool(url);
    const { rows: [{ dir }] } = await p.query(`select current_setting('data_directory') as dir`);
    const script = fileURLToPath(new URL('./bare-client.js', import.meta.url));
    const connections = options.connections ?? 16;
    const runCount = async (count) => {
      const startAt = Date.now() + 2000;
      const children = Array.from({ length: count }, () => spawn(process.execPath, [script, String(connections / count), String(options.seconds * 1000), String(startAt)], {
        env: { ...process.env, BENCH_DATABASE_URL: url }, stdio: ['ignore', 'pipe', 'inherit'],
      }));
      await sleep(startAt - Date.now());
      const pgBefore = postgresCpuSeconds(dir);
      const outputs = await Promise.all(children.map((child) => new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk) => (out += chunk));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`bare client exited with code ${code}`))));
      })));
      // Every process has finished its timed window by now; the rest is their exit.
      const pgAfter = postgresCpuSeconds(dir);
      const statements = outputs.reduce((sum, o) => sum + o.statements, 0);
      return {
        StatementsPerSecond: statements / options.seconds,
        ClientCpuUsPerStatement: outputs.reduce((sum, o) => sum + o.cpuUs, 0) / statements,
        PgCpuUsPerStatement: pgBefore === undefined ? null : ((pgAfter - pgBefore) * 1e6) / statements,
      };
    };
    const drains = Object.fromEntries(options.counts.map((count) => [count, []]));
    for (const count of turns(options.counts, options.rounds)) drains[count].push(await runCount(count));
    await p.end();
    const result = {};
    for (const [count, runs] of Object.entries(drains)) {
      for (const key of Object.keys(runs[0])) result[`p${count}${key}`] = median(runs.map((run) => run[key]));
      result[`p${count}StatementsPerSecondByRound`] = runs.map((run) => Math.round(run.StatementsPerSecond));
    }
    return result;
  },

  /** pg-supervisor only: RSS of a `supervisor` process, idle and draining. */
  async memory() {
    const s = await system();
    await s.setup();
    const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
    const tasks = fileURLToPath(new URL('./tasks/bench-tasks.js', import.meta.url));
    const child = spawn(process.execPath, [cli, '--tasks', tasks, '--threads', String(options.threads), '--concurrency', '256', '--schema', schema, '--metrics-port', '0', '--log-level', 'warn'], {
      env: { ...process.env, DATABASE_URL: url }, stdio: 'ignore',
    });
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
    await sleep(3000);
    const idleMb = rss();
    await s.insert(options.n);
    let loadMb = 0;
    const p = pool(url);
    for (;;) {
      loadMb = Math.max(loadMb, rss());
      const { rows } = await p.query(`select 1 from "${schema}".jobs where job_status <> 'success' limit 1`);
      if (rows.length === 0) break;
      await sleep(100);
    }
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    await p.end();
    await s.teardown();
    return { idleMb, loadMb };
  },
};

try {
  const result = await scenarios[scenario]();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  for (const target of [schema, ...extraSchemas]) await dropSchema(url, target).catch(() => undefined);
}
process.exit(0);
