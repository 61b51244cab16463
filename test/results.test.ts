/**
 * What a handler returns, and the progress it reports, are stored with its
 * job: getJob and `supervisor job` show them; nothing is stored for a
 * handler that returns nothing, and a value that cannot be stored fails
 * the attempt, saying why.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, runCli, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';

let db: TestDb;
let queue: Queue;
let env: NodeJS.ProcessEnv;

before(async () => {
  db = await testDb('results');
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

describe('results', () => {
  it('stores what a handler returns, nothing when it returns nothing, and fails a value too large to store', async () => {
    const running = new SupervisorProcess(['--tasks', join(fixtures, 'tasks.js'), '--metrics-port', '0', '--threads', '1', '--concurrency', '8'], env);
    try {
      await running.started();
      const [object, text, none, noop, big] = await queue.addMany([
        { task: 'returns', payload: { value: { total: 42, items: ['a', 'b'] } } },
        { task: 'returns', payload: { value: 'done' } },
        { task: 'returns', payload: {} },
        { task: 'noop' },
        { task: 'returns', payload: { bytes: 70_000 }, maxAttempts: 1 },
      ]);
      const ids = [object, text, none, noop, big].map((job) => job!.id);
      await waitFor('every job finished', async () =>
        (await db.query(`select 1 from jobs where job_id = any($1::bigint[]) and job_status in ('success', 'failed')`, [ids])).length === 5);
      const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
      assert.deepEqual(jobs.map((job) => [job?.job_status, job?.result]), [
        ['success', { total: 42, items: ['a', 'b'] }],
        ['success', 'done'],
        ['success', null],
        ['success', null],
        ['failed', null],
      ]);
      assert.match(jobs[4]!.last_error!, /the handler's return value is 70002 bytes as JSON; the limit is 65536: store large results elsewhere/);
      const shown = await runCli(['job', ids[0]!], env);
      assert.match(shown.stdout, /^result\s+\{"items":\["a","b"\],"total":42\}$/m);
    } finally {
      await running.stop();
    }
  });

  it('stores progress while the job runs, its last report with its outcome, and fails a report too large to store', async () => {
    const running = new SupervisorProcess(['--tasks', join(fixtures, 'tasks.js'), '--metrics-port', '0', '--threads', '1', '--concurrency', '2'], env);
    const gate = join(tmpdir(), `progress-gate-${process.pid}-${Date.now()}`);
    try {
      await running.started();
      const job = await queue.add('reportsProgress', { gate, reports: 500 });
      const bad = await queue.add('reportsProgress', { gate, bad: true }, { maxAttempts: 1 });
      await waitFor('progress written while the job runs', async () => (await queue.getJob(job.id))?.progress !== null);
      assert.deepEqual((await queue.getJob(job.id))!.progress, { done: 1 });
      assert.equal((await queue.getJob(job.id))!.job_status, 'running');
      assert.match((await runCli(['job', job.id], env)).stdout, /^progress\s+\{"done":1\}$/m);
      writeFileSync(gate, '');
      const done = await queue.waitFor(job.id, { timeout: 20_000 });
      assert.equal(done.result, 'finished');
      assert.deepEqual(done.progress, { done: 500 }, 'the last report is written with the outcome');
      await assert.rejects(queue.waitFor(bad.id, { timeout: 20_000 }), /ctx.progress\(\) takes at most 4096 bytes of JSON/);
    } finally {
      await running.stop();
      rmSync(gate, { force: true });
    }
  });
});
