import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
before(async () => {
  db = await testDb('drain');
});
after(() => db.drop());

it('two supervisor processes drain 2,000 jobs, each run exactly once', async () => {
  const out = recordFile();
  const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
  const args = ['--tasks', join(fixtures, 'tasks.js'), '--threads', '2', '--concurrency', '8'];
  const supervisors = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
  let exits;
  try {
    await Promise.all(supervisors.map((s) => s.started()));
    const queue = new Queue({ connectionString: db.url, schema: db.schema });
    const added = await queue.addMany(Array.from({ length: 2000 }, (_, i) => ({ task: 'recorded', payload: { i } })));
    await queue.close();
    await waitFor('every job succeeded', async () => (await statusCounts(db)).success === 2000, 60_000);

    const runs = readRuns(out);
    const runsPerJob = new Map<string, number>();
    for (const run of runs) runsPerJob.set(run.jobId, (runsPerJob.get(run.jobId) ?? 0) + 1);
    assert.equal(runs.length, 2000, 'one run per job');
    assert.deepEqual([...runsPerJob.values()].filter((n) => n !== 1), []);
    assert.deepEqual(new Set(runsPerJob.keys()), new Set(added.map((job) => job.id)));
    // Both processes took part, and no run happened on a main thread.
    const pids = new Set(runs.map((run) => run.pid));
    assert.deepEqual(pids, new Set(supervisors.map((s) => s.pid)));
    assert.ok(runs.every((run) => run.threadId > 0));
    const [attempts] = await db.query(`select max(attempts)::int as max, min(attempts)::int as min from jobs`);
    assert.deepEqual(attempts, { max: 1, min: 1 });
  } finally {
    exits = await Promise.all(supervisors.map((s) => s.stop()));
  }
  assert.deepEqual(exits.map((e) => e.code), [0, 0], 'graceful exit on SIGTERM');
  assert.deepEqual(await db.query(`select * from supervisors`), [], 'supervisors deregistered on exit');
});
