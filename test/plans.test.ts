// The claim and the completion must keep their linear plans on a table whose
// statistics were taken while no job ran (autovacuum does that at any time).
// These plans are checked, not timed, on the supervisor's own connections
// (their session settings choose the plans): a seq scan or a nested loop over
// the batch here once made a 100,000-job drain 50 times slower.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type pg from 'pg';
import { openDatabase, type Database } from '../src/db/connect.js';
import { flowStatements } from '../src/db/sql/flow.js';
import { FINISHED_STATUSES, maintenanceStatements } from '../src/db/sql/maintenance.js';
import { metricsStatements } from '../src/db/sql/metrics.js';
import { supervisorStatements } from '../src/db/sql/supervisor.js';
import { silentLogger } from '../src/log.js';
import { testDb, type TestDb } from './helpers/db.js';

let db: TestDb;
let database: Database;
const sql = () => supervisorStatements(db.schema, []);

before(async () => {
  db = await testDb('plans');
  await db.query(`insert into jobs (task) select 'noop' from generate_series(1, 20000)`);
  await db.query('analyze jobs');
  database = await openDatabase({ databaseUrl: db.url }, silentLogger());
});
after(async () => {
  await database.close();
  await db.drop();
});

/** Runs `explain` on one connection of `pool` for the prepared statement `text`, executed with `args`. */
async function explain<T>(pool: pg.Pool, text: string, args: string, options: string, read: (rows: any[]) => T): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(`prepare planned as ${text}`);
    try {
      return read((await client.query(`explain (${options}) execute planned${args === "" ? "" : `(${args})`}`)).rows);
    } finally {
      await client.query('deallocate planned');
    }
  } finally {
    client.release();
  }
}

/** The plan as text, without running the statement. */
const plan = (pool: pg.Pool, text: string, args: string) =>
  explain(pool, text, args, 'costs off', (rows) => rows.map((row) => row['QUERY PLAN']).join('\n'));

it('claims by primary key, never scanning the whole table', async () => {
  const text = await plan(database.claimPool, sql().claimJobs.text, `'{noop}', 2048, 'me', 30000`);
  assert.match(text, /Index Scan using jobs_pkey on jobs j/);
  assert.match(text, /Index Scan using jobs_claim_idx/);
  // The queues table (settings of a few queues) is read once, whole.
  assert.doesNotMatch(text, /Seq Scan on jobs/);
});

it('writes a batch of results with a hash join, never a nested loop over the batch', async () => {
  const text = await plan(database.writePool, sql().completeJobs.text, `'1,2,3', '1,1,1', 'success,success,success', null, '0,0,0', 'me', null, null`);
  assert.match(text, /Hash Join/);
  assert.match(text, /Index Scan using jobs_pkey on jobs j/);
  assert.doesNotMatch(text, /Nested Loop|Seq Scan on jobs/);
});

it('extends leases with a hash join too', async () => {
  const text = await plan(database.writePool, sql().extendLeases.text, `'me', '{1,2,3}', '{1,1,1}', 30000`);
  assert.match(text, /Hash Join/);
  assert.doesNotMatch(text, /Nested Loop|Seq Scan on jobs/);
});

/**
 * EXPLAIN (ANALYZE) of a claim of up to `limit` noop jobs in `target`'s
 * schema, on the claim connection: ANALYZE runs the claim, so the jobs it
 * reports are claimed.
 */
function explainClaim(target: TestDb, limit: number): Promise<any> {
  return explain(
    database.claimPool,
    supervisorStatements(target.schema, []).claimJobs.text,
    `'{noop}', ${limit}, 'me', 30000`,
    'analyze, buffers, format json',
    (rows) => rows[0]['QUERY PLAN'][0].Plan,
  );
}

it('claims by reading the due jobs only, however many wait for a later run_at', async () => {
  // Scheduled jobs and retries waiting out their backoff are pending too. A
  // claim that walked past them read every one of them each time (20 ms per
  // million); read per priority, it stops at the first job not yet due.
  const later = await testDb('plans_later');
  try {
    await later.query(
      `insert into jobs (task, priority, run_at) select 'noop', i % 3, now() + interval '1 day' from generate_series(1, 20000) i`,
    );
    await later.query(`insert into jobs (task, priority) values ('noop', 2)`);
    await later.query('analyze jobs');
    const plan = await explainClaim(later, 64);
    assert.equal(plan['Actual Rows'], 1, 'the one due job is claimed');
    const buffers = plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
    assert.ok(buffers < 100, `the claim read ${buffers} buffers (about 30 expected; walking past the 20,000 scheduled jobs reads about 280)`);
  } finally {
    await later.drop();
  }
});

it('walks the dead entries at the front of the claim index once per claim, not twice', async () => {
  // Every claimed job leaves a dead entry at the front of the claim index
  // until a vacuum removes it; between vacuums, a busy queue's claims walk
  // thousands of them. The probe for the first pending job walks them, and
  // the range of due jobs must start where it stopped.
  const busy = await testDb('plans_busy');
  try {
    await busy.query(`insert into jobs (task) select 'noop' from generate_series(1, 20000)`);
    await busy.query('analyze jobs');
    await busy.query(`update jobs set job_status = 'success' where job_id in (select job_id from jobs order by job_id limit 19000)`);
    // One walk, as the probe makes it; read twice so that the entries a
    // first scan could mark dead are marked for both.
    const walk = `select job_id from jobs where job_status = 'pending' and concurrency_key is null order by priority, run_at, job_id limit 1`;
    await busy.query(walk);
    const [row] = await busy.query<{ 'QUERY PLAN': any[] }>(`explain (analyze, buffers, format json) ${walk}`);
    const walked = row!['QUERY PLAN'][0].Plan['Shared Hit Blocks'] + row!['QUERY PLAN'][0].Plan['Shared Read Blocks'];
    assert.ok(walked > 50, `one walk past 19,000 dead entries reads ${walked} buffers: too few for this test to tell one walk from two`);
    const plan = await explainClaim(busy, 1);
    assert.equal(plan['Actual Rows'], 1);
    const buffers = plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
    // The claim's own work (its job, the lease, the update) is a few dozen buffers.
    assert.ok(buffers < walked * 1.5, `the claim read ${buffers} buffers where one walk reads ${walked}: it walked the dead entries twice`);
  } finally {
    await busy.drop();
  }
});

it('claims the best jobs by priority within one claim, and locks no others', async () => {
  const ranked = await testDb('plans_ranked');
  try {
    const jobs = await ranked.query<{ job_id: string }>(
      `insert into jobs (task, priority) select 'noop', p from unnest('{2,0,1,0,3,1}'::int[]) p returning job_id`,
    );
    const plan = await explainClaim(ranked, 3);
    assert.equal(plan['Actual Rows'], 3);
    const running = await ranked.query<{ job_id: string }>(`select job_id from jobs where job_status = 'running' order by job_id`);
    // Priorities 0 and 0, then the first of the two 1s.
    assert.deepEqual(running.map((row) => row.job_id), [jobs[1]!.job_id, jobs[2]!.job_id, jobs[3]!.job_id]);
    // A sort above the per-priority ranges would read and lock jobs of every priority before choosing.
    assert.doesNotMatch(JSON.stringify(plan), /"Node Type":"Sort"/);
  } finally {
    await ranked.drop();
  }
});

it('counts pending and running jobs per queue from their partial indexes, never scanning the finished ones', async () => {
  await db.query(`insert into jobs (task, job_status, finished_at) select 'noop', 'success', now() from generate_series(1, 200000)`);
  await db.query('analyze jobs');
  const text = await plan(database.pool, flowStatements(db.schema).listQueues.text, '');
  assert.match(text, /(on|using) jobs_pending_count_idx/);
  assert.match(text, /using jobs_running_idx/);
  assert.doesNotMatch(text, /Seq Scan on jobs/);
});

it('reads the jobs table by its indexes in every other statement of the write connection', async () => {
  // On the table of the test before: 20,000 pending jobs, 200,000 finished.
  // One connection carries a supervisor's writes and its maintenance, with
  // nested loops off and generic plans (see Database.writePool); none of
  // its statements may fall back to reading the whole table.
  const maintenance = maintenanceStatements(db.schema);
  const statements: [string, string, string][] = [
    ['recovery', sql().recoverExpired.text, `30000, '${db.schema}'`],
    ['progress', sql().writeProgress.text, `'{1,2}', '{1,1}', '{"1","2"}'`],
    ['gates', flowStatements(db.schema).gates.text, `'{}'`],
    ['queue depth', metricsStatements(db.schema).queueDepth.text, ''],
    ...FINISHED_STATUSES.map((status): [string, string, string] => [`retention of ${status}`, maintenance.deleteFinished[status].text, '86400000, 1000']),
  ];
  for (const [what, text, args] of statements) {
    assert.doesNotMatch(await plan(database.writePool, text, args), /Seq Scan on jobs/, what);
  }
});
