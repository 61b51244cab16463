// The claim and the completion must keep their linear plans on a table whose
// statistics were taken while no job ran (autovacuum does that at any time).
// These plans are checked, not timed: a seq scan or a nested loop over the
// batch here once made a 100,000-job drain 50 times slower.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { supervisorStatements } from '../src/db/sql/supervisor.js';
import { testDb, type TestDb } from './helpers/db.js';

let db: TestDb;
let client: pg.Client;
const sql = () => supervisorStatements(db.schema, []);

before(async () => {
  db = await testDb('plans');
  await db.query(`insert into jobs (task) select 'noop' from generate_series(1, 20000)`);
  await db.query('analyze jobs');
  // Like the supervisor's batch pool (src/db/connect.ts).
  client = new pg.Client({ connectionString: db.url, options: '-c enable_nestloop=off' });
  await client.connect();
  await client.query(`set plan_cache_mode = force_generic_plan`);
});
after(async () => {
  await client.end();
  await db.drop();
});

async function plan(name: string, text: string, args: string): Promise<string> {
  await client.query(`prepare ${name} as ${text}`);
  const { rows } = await client.query(`explain (costs off) execute ${name}(${args})`);
  return rows.map((row) => row['QUERY PLAN']).join('\n');
}

it('claims by primary key, never scanning the whole table', async () => {
  const text = await plan('claim', sql().claimJobs.text, `'{noop}', 2048, 'me', 30000`);
  assert.match(text, /Index Scan using jobs_pkey on jobs j/);
  assert.match(text, /Index Scan using jobs_claim_idx/);
  assert.doesNotMatch(text, /Seq Scan/);
});

it('writes a batch of results with a hash join, never a nested loop over the batch', async () => {
  await client.query(`select 1`); // the claim above left 2048 running jobs; the plan must not care
  const text = await plan('complete', sql().completeJobs.text, `'1,2,3', '1,1,1', 'success,success,success', null, '0,0,0', 'me'`);
  assert.match(text, /Hash Join/);
  assert.match(text, /Index Scan using jobs_pkey on jobs j/);
  assert.doesNotMatch(text, /Nested Loop|Seq Scan on jobs/);
});

it('extends leases with a hash join too', async () => {
  const text = await plan('extend', sql().extendLeases.text, `'me', '{1,2,3}', '{1,1,1}', 30000`);
  assert.match(text, /Hash Join/);
  assert.doesNotMatch(text, /Nested Loop|Seq Scan on jobs/);
});

/**
 * EXPLAIN (ANALYZE) of a claim of up to `limit` noop jobs in `target`'s
 * schema, with the generic plan the claim connection uses: it runs the claim.
 */
async function explainClaim(target: TestDb, limit: number): Promise<any> {
  const one = await target.pool.connect();
  try {
    await one.query(`set plan_cache_mode = force_generic_plan`);
    await one.query(`prepare claim as ${supervisorStatements(target.schema, []).claimJobs.text}`);
    const { rows } = await one.query(`explain (analyze, buffers, format json) execute claim('{noop}', ${limit}, 'me', 30000)`);
    return rows[0]['QUERY PLAN'][0].Plan;
  } finally {
    one.release();
  }
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
