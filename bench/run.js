// `npm run bench`: pg-supervisor and its peers, side by side, on one database.
//   node bench/run.js            full run (about twenty minutes)
//   node bench/run.js --quick    a smoke run with small numbers (CI)
//   node bench/run.js --soak     also the 20-minute soak (--soak=60 for an hour)
// Every measurement runs in a fresh process and a fresh schema; runs of the
// different systems are interleaved so that noise on this shared machine
// falls on all of them alike. Prints one table and saves JSON in
// bench/results/.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
/** `--only drain,cpu`: run only the scenarios whose label contains one of these words. */
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice(7).split(',');
/** `--soak[=minutes]`: also run the soak (20 minutes unless given); a quick run has a short one. */
const soakArg = process.argv.find((arg) => arg === '--soak' || arg.startsWith('--soak='));
const soakMinutes = soakArg ? Number(soakArg.split('=')[1] ?? 20) : undefined;
const runs = quick ? 1 : 3;

const OURS = 'pg-supervisor';
const PEERS = ['graphile-worker:batching', 'graphile-worker:defaults', 'pg-boss', 'bullmq', 'raw'];
const NAMES = {
  'pg-supervisor': 'pg-supervisor',
  'graphile-worker:batching': 'graphile-worker 0.18 (batching)',
  'graphile-worker:defaults': 'graphile-worker 0.18 (defaults)',
  'pg-boss': 'pg-boss 12.38',
  bullmq: 'BullMQ 6.7 (PostgreSQL)',
  raw: 'raw PostgreSQL',
};

/** Warm latency first (the ratio column uses the first metric), then cold, then the enqueue alone. */
const LATENCY = ['p50Ms', 'p99Ms', 'coldP50Ms', 'coldP99Ms', 'enqueueP50Ms', 'enqueueP99Ms'];

const BIG_TABLE = ['emptyJobsPerSecond', 'bigJobsPerSecond', 'bigOverEmpty', 'emptyDepthMs', 'bigDepthMs', 'emptyClaimMs', 'bigClaimMs', 'bigTableMb'];
const LIMITED = ['unlimitedJobsPerSecond', 'limitedJobsPerSecond', 'limitedOverUnlimited'];
const CONSOLE = ['firstPageMs', 'pageInTheMiddleMs', 'failedPageMs', 'cancelledPageMs', 'queuePageMs', 'taskPageMs', 'searchPageMs', 'errorSearchPageMs', 'countFailedMs', 'jobMs', 'overviewMs'];
/** The scale-out scenario's columns for these supervisor counts. */
const scale = (counts) =>
  counts.flatMap((n) => [`s${n}JobsPerSecond`, `s${n}ColdJobsPerSecond`, `s${n}PgCpuUsPerJob`, `s${n}SupervisorCpuUsPerJob`, `s${n}XactsPerJob`, `s${n}ClaimsPerJob`, `s${n}ConnectionsPerSupervisor`, `s${n}RanTwice`]);
/** The scale-out control's columns for these process counts. */
const control = (counts) => counts.flatMap((n) => [`p${n}StatementsPerSecond`, `p${n}ClientCpuUsPerStatement`, `p${n}PgCpuUsPerStatement`]);
const SOAK = ['jobsPerSecond', 'earlyMb', 'endMb', 'endOverEarly', 'minJobsPerSecond', 'maxJobsPerSecond'];

/** Scenarios: [label, scenario, options, systems, metric keys, runs (default: 3, or 1 when quick)]. */
function plan() {
  const everyone = [OURS, ...PEERS];
  const fast = [OURS, 'graphile-worker:batching', 'pg-boss', 'raw'];
  if (quick) {
    return [
      ['drain 500 no-op jobs', 'drain', { n: 500 }, everyone, ['jobsPerSecond']],
      ['enqueue → start latency (20 jobs, then 20 after 20 unmeasured)', 'latency', { samples: 20, gapMs: 20, warmup: 20 }, [OURS, 'graphile-worker:batching', 'raw'], LATENCY],
      ['bulk insert 2,000 jobs', 'insert', { n: 2000 }, [OURS, 'graphile-worker:batching', 'pg-boss'], ['jobsPerSecond']],
      ['CPU-bound 5 ms jobs, 1 thread', 'cpu', { n: 40, ms: 5, threads: 1, concurrency: 1 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
      ['CPU-bound 5 ms jobs, 2 threads', 'cpu', { n: 40, ms: 5, threads: 2, concurrency: 1 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
      ['idle supervisor', 'idle', { seconds: 2 }, [OURS], ['queriesPerSecond']],
      ['memory, 1 thread', 'memory', { threads: 1, n: 2000 }, [OURS], ['idleMb', 'loadMb']],
      ['drain 5,000 jobs: empty table vs 20,000 finished + 2,000 scheduled rows', 'bigTable', { n: 5000, finished: 20_000, scheduled: 2000, rounds: 1 }, [OURS], BIG_TABLE],
      ['limited queue (2,000 jobs, 2 supervisors, --concurrency 50)', 'limited', { n: 2000, supervisors: 2, limit: 50, rounds: 1 }, [OURS], LIMITED],
      ['console pages on 20,000 finished jobs (ms)', 'consolePages', { rows: 20_000, runs: 3 }, [OURS], CONSOLE],
      ['scale-out: 1 and 2 supervisor processes draining 20,000 jobs', 'scaleOut', { n: 20_000, counts: [1, 2] }, [OURS], scale([1, 2])],
      ['scale-out control: 1 and 2 bare node-pg processes (1 s)', 'processCount', { counts: [1, 2], seconds: 1, rounds: 1 }, [OURS], control([1, 2]), 1],
      ['soak (10 s)', 'soak', { minutes: 1 / 6, rate: 500, keep: '2s', sampleSeconds: 2 }, [OURS], SOAK],
    ];
  }
  return [
    ['drain 20,000 no-op jobs', 'drain', { n: 20_000 }, everyone, ['jobsPerSecond', 'nodeCpuUsPerJob', 'mainThreadCpuUsPerJob', 'pgCpuUsPerJob', 'xactsPer1kJobs', 'walBytesPerJob']],
    ['drain 100,000 no-op jobs', 'drain', { n: 100_000 }, fast, ['jobsPerSecond', 'nodeCpuUsPerJob', 'mainThreadCpuUsPerJob', 'pgCpuUsPerJob', 'xactsPer1kJobs', 'walBytesPerJob']],
    // 500 samples: p99 is then the 5th slowest, not the 2nd. Warm: after
    // 2,000 unmeasured jobs; cold: the 500 right after start (scenario.js
    // says why they differ).
    ['enqueue → start latency (500 jobs, 20 ms apart)', 'latency', { samples: 500, gapMs: 20, warmup: 2000 }, [OURS, 'graphile-worker:batching', 'pg-boss', 'bullmq', 'raw'], LATENCY],
    ['bulk insert 100,000 jobs', 'insert', { n: 100_000 }, [OURS, 'graphile-worker:batching', 'pg-boss', 'bullmq'], ['jobsPerSecond']],
    // --concurrency 1: each job waits for the claim round trip after the previous one.
    ['CPU-bound 5 ms jobs, 1 thread × concurrency 1', 'cpu', { n: 400, ms: 5, threads: 1, concurrency: 1 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
    ['CPU-bound 5 ms jobs, 2 threads × concurrency 1', 'cpu', { n: 400, ms: 5, threads: 2, concurrency: 1 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
    // --concurrency 2: the next job already waits in the thread (the round trip is hidden).
    ['CPU-bound 5 ms jobs, 1 thread × concurrency 2', 'cpu', { n: 400, ms: 5, threads: 1, concurrency: 2 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
    ['CPU-bound 5 ms jobs, 2 threads × concurrency 2', 'cpu', { n: 400, ms: 5, threads: 2, concurrency: 2 }, [OURS], ['jobsPerSecond', 'eventLoopP99Ms']],
    ['idle supervisor (20 s)', 'idle', { seconds: 20 }, [OURS], ['queriesPerSecond']],
    ['memory, 1 thread', 'memory', { threads: 1, n: 50_000 }, [OURS], ['idleMb', 'loadMb']],
    ['memory, 2 threads', 'memory', { threads: 2, n: 50_000 }, [OURS], ['idleMb', 'loadMb']],
    ['memory, 8 threads', 'memory', { threads: 8, n: 50_000 }, [OURS], ['idleMb', 'loadMb']],
    // One run of three alternated rounds of each: no limit, then --concurrency 50.
    ['limited queue (20,000 jobs, 2 supervisors, --concurrency 50)', 'limited', { n: 20_000, supervisors: 2, limit: 50, rounds: 3 }, [OURS], LIMITED, 1],
    ['console pages on 10,000,000 finished jobs (ms)', 'consolePages', { rows: 10_000_000, runs: 9 }, [OURS], CONSOLE, 1],
    ['scale-out: 1, 2, 4 and 8 supervisor processes draining 200,000 jobs: cold, then warm (each process has run 75,000 jobs; the counts take turns, median of 5 rounds)', 'scaleOut', { n: 200_000, counts: [1, 2, 4, 8], warmup: 75_000, rounds: 5 }, [OURS], scale([1, 2, 4, 8]), 1],
    // The same machine's cost of more processes for the same work, with no pg-supervisor code: what limits the curve above.
    ['scale-out control: 1, 2, 4 and 8 bare node-pg processes sharing 16 connections, a one-row statement back to back on each (the counts take turns, median of 5 rounds of 5 s)', 'processCount', { counts: [1, 2, 4, 8], seconds: 5, rounds: 5 }, [OURS], control([1, 2, 4, 8]), 1],
    // One run of three alternated rounds: filling 11 million rows takes minutes.
    ['drain 100,000 jobs: empty table vs 10,000,000 finished + 1,000,000 scheduled rows', 'bigTable', { n: 100_000, finished: 10_000_000, scheduled: 1_000_000, rounds: 3 }, [OURS], BIG_TABLE, 1],
    ...(soakMinutes ? [[`soak (${soakMinutes} minutes, 5,000 jobs/s, retention 1 minute)`, 'soak', { minutes: soakMinutes, rate: 5000, keep: '1m', sampleSeconds: 30 }, [OURS], SOAK, 1]] : []),
  ];
}

/** DATABASE_URL, else the local service on 127.0.0.1:5432, else an embedded PostgreSQL. */
async function chooseDatabase() {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL, kind: 'DATABASE_URL' };
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: local, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return { url: local, kind: 'local service 127.0.0.1:5432' };
  } catch {
    const { useEmbeddedPostgres } = await import('../dist/db/embedded.js');
    const { silentLogger } = await import('../dist/log.js');
    const server = await useEmbeddedPostgres({ dir: mkdtempSync(join(tmpdir(), 'pg-supervisor-bench-')), ephemeral: true }, silentLogger());
    return { url: server.url, kind: 'embedded PostgreSQL', server };
  }
}

function runOnce(url, scenario, system, options) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, 'scenario.js'), scenario, system, JSON.stringify(options)], {
      env: { ...process.env, BENCH_DATABASE_URL: url },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), (soakMinutes ?? 0) * 60_000 + 1_200_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1);
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ error: `exit ${code}: ${(err || out).trim().split('\n').slice(-3).join(' | ')}` });
      }
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => (x === undefined || x === null || Number.isNaN(x) ? '–' : Number.isInteger(x) ? x.toLocaleString('en-US') : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(x >= 10 ? 1 : 2));

async function main() {
  const db = await chooseDatabase();
  const probe = new pg.Client({ connectionString: db.url });
  await probe.connect();
  const { rows: [{ server_version: version }] } = await probe.query('show server_version');
  await probe.end();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${version} (${db.kind})`;
  console.log(`pg-supervisor benchmark${quick ? ' (quick)' : ''}: ${machine}\n`);
  const results = [];
  for (const [label, scenario, options, systems, metrics, times = runs] of plan().filter(([label]) => !only || only.some((w) => label.includes(w)))) {
    const samples = Object.fromEntries(systems.map((s) => [s, []]));
    for (let r = 0; r < times; r++) {
      for (const system of systems) samples[system].push(await runOnce(db.url, scenario, system, options));
    }
    for (const system of systems) {
      const ok = samples[system].filter((s) => !s.error);
      const row = { scenario: label, system: NAMES[system], runs: samples[system] };
      if (ok.length === 0) row.error = samples[system][0].error;
      for (const metric of metrics) {
        const values = ok.map((s) => s[metric]).filter((v) => v !== undefined);
        if (values.length) row[metric] = { median: median(values), min: Math.min(...values), max: Math.max(...values) };
      }
      results.push(row);
    }
    if (scenario === 'scaleOut') printByCount(label, results.find((r) => r.scenario === label), options.counts, 's', SCALE_ROWS, 'supervisors');
    else if (scenario === 'processCount') printByCount(label, results.find((r) => r.scenario === label), options.counts, 'p', CONTROL_ROWS, 'processes');
    else printScenario(label, results.filter((r) => r.scenario === label), metrics);
  }
  mkdirSync(join(here, 'results'), { recursive: true });
  const file = join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify({ machine, quick, runs, results }, null, 2));
  console.log(`\nresults saved to ${file}`);
  await db.server?.close();
  const failed = results.filter((r) => r.error);
  if (failed.length) {
    console.error(`\n${failed.length} measurement(s) failed:`);
    for (const r of failed) console.error(`  ${r.scenario} / ${r.system}: ${r.error}`);
    process.exit(1);
  }
  process.exit(0);
}

/** A median with its range, or the value alone when there was one run. */
const cell = (m) => (!m ? '–' : m.min === m.max ? fmt(m.median) : `${fmt(m.median)} [${fmt(m.min)}–${fmt(m.max)}]`);

/** The scale-out scenario's rows, in the README's order and words. */
const SCALE_ROWS = [
  ['JobsPerSecond', 'jobs/s, warm'],
  ['ColdJobsPerSecond', 'jobs/s, cold'],
  ['PgCpuUsPerJob', 'PostgreSQL CPU per job, µs'],
  ['SupervisorCpuUsPerJob', "supervisors' CPU per job, µs"],
  ['XactsPerJob', 'transactions per job'],
  ['ClaimsPerJob', 'claims per job'],
  ['ConnectionsPerSupervisor', 'connections of one supervisor, at most'],
  ['RanTwice', 'jobs run twice'],
];

/** The scale-out control's rows. */
const CONTROL_ROWS = [
  ['StatementsPerSecond', 'statements/s'],
  ['ClientCpuUsPerStatement', "processes' CPU per statement, µs"],
  ['PgCpuUsPerStatement', 'PostgreSQL CPU per statement, µs'],
];

/**
 * A scenario by process count as the README shows it: a row per measure
 * (`rows`, keys after `prefix` and the count), a column per count, rates
 * also as a share of the best.
 */
function printByCount(label, row, counts, prefix, rows, heading) {
  console.log(`## ${label}`);
  if (row.error) {
    console.log(`failed: ${row.error}\n`);
    return;
  }
  console.log(`| ${heading} | ${counts.join(' | ')} |\n|---|${counts.map(() => '---').join('|')}|`);
  for (const [key, name] of rows) {
    const values = counts.map((n) => row[`${prefix}${n}${key}`]);
    const best = key.endsWith('PerSecond') ? Math.max(...values.map((v) => v?.median ?? 0)) : undefined;
    const cells = values.map((v) => (best && v ? `${cell(v)} (${Math.round((100 * v.median) / best)}%)` : cell(v)));
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
  console.log('');
}

function printScenario(label, rows, metrics) {
  const ours = rows.find((r) => r.system === NAMES[OURS]);
  console.log(`## ${label}`);
  const header = ['system', ...metrics.map((m) => `${m} (median [min–max])`), ...(rows.length > 1 ? [`pg-supervisor ÷ system (${metrics[0]})`] : [])];
  const lines = rows.map((r) => {
    if (r.error) return [r.system, `failed: ${r.error}`];
    const cells = metrics.map((m) => cell(r[m]));
    const ratio = rows.length > 1 && ours?.[metrics[0]] && r[metrics[0]] ? `${(ours[metrics[0]].median / r[metrics[0]].median).toFixed(2)}×` : '';
    return [r.system, ...cells, ...(rows.length > 1 ? [r === ours ? '' : ratio] : [])];
  });
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const line of lines) console.log(`| ${line.join(' | ')} |`);
  console.log('');
}

await main();
