import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { threadId } from 'node:worker_threads';
import { Queue, startSupervisor, type Supervisor, type SupervisorOptions } from '../src/index.js';
import { fixtures } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const out = recordFile();
const running: Supervisor[] = [];

before(async () => {
  process.env.TEST_OUT = out; // worker threads copy the environment when they start
  db = await testDb('supervisor');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await queue.close();
  await db.drop();
});

async function start(options: SupervisorOptions = {}): Promise<Supervisor> {
  const supervisor = await startSupervisor({
    connectionString: db.url,
    schema: db.schema,
    tasks: join(fixtures, 'tasks.js'),
    threads: 2,
    logLevel: 'silent',
    ...options,
  });
  running.push(supervisor);
  return supervisor;
}

async function stop(supervisor: Supervisor): Promise<void> {
  await supervisor.stop();
  running.splice(running.indexOf(supervisor), 1);
}

const job = (id: string) => db.job(id);
const statusOf = async (id: string) => (await job(id)).job_status as string;

describe('a supervisor', () => {
  it('runs every job on a worker thread, never on the main thread', async () => {
    const supervisor = await start();
    const ids = (await queue.addMany(Array.from({ length: 20 }, () => ({ task: 'recorded' })))).map((j) => j.id);
    await waitFor('jobs done', async () => (await db.query(`select 1 from jobs where job_id = any($1) and job_status = 'success'`, [ids])).length === 20);
    const runs = readRuns(out).filter((run) => ids.includes(run.jobId));
    assert.equal(runs.length, 20);
    assert.equal(threadId, 0);
    assert.ok(runs.every((run) => run.threadId !== threadId && run.pid === process.pid), JSON.stringify(runs));
    await stop(supervisor);
  });

  it('gives its threads what they need to run jobs and nothing else (no database URL)', async () => {
    const supervisor = await start();
    const { id } = await queue.add('showWorkerData', {}, { maxAttempts: 1 });
    await waitFor('the job to fail', async () => (await statusOf(id)) === 'failed');
    assert.match((await job(id)).last_error, /^Error: workerData: concurrency,logFormat,logLevel,progressChannel,tasksPath\n/);
    await stop(supervisor);
  });

  it("keeps the supervisor's database URL and password out of its threads' environment", async () => {
    const added = { APP_DB_URL: db.url, PGPASSWORD: 'secret', APP_SETTING: 'kept' };
    Object.assign(process.env, added);
    let supervisor: Supervisor;
    try {
      supervisor = await start();
    } finally {
      for (const name of Object.keys(added)) delete process.env[name];
    }
    const { id } = await queue.add('showEnv', { names: ['DATABASE_URL', 'PGPASSWORD', 'APP_DB_URL', 'APP_SETTING'] }, { maxAttempts: 1 });
    await waitFor('the job to fail', async () => (await statusOf(id)) === 'failed');
    assert.match((await job(id)).last_error, /^Error: env: DATABASE_URL=unset PGPASSWORD=unset APP_DB_URL=unset APP_SETTING=set\n/);
    await stop(supervisor);
  });

  it('keeps claiming while CPU-bound jobs fill every thread', async () => {
    const supervisor = await start({ threads: 2, concurrency: 2 });
    const busy = gate();
    try {
      // Two jobs that never yield until the gate opens: on the main thread,
      // the first would freeze this test (and the claims) for good.
      const spins = await queue.addMany([{ task: 'spinUntil', payload: { gate: busy.path } }, { task: 'spinUntil', payload: { gate: busy.path } }]);
      const spinIds = spins.map((s) => s.id);
      await waitFor('both threads spinning', () => readRuns(out).filter((run) => spinIds.includes(run.jobId)).length === 2);
      const late = await queue.add('noop');
      await waitFor('the new job claimed by the main thread', async () => (await statusOf(late.id)) === 'running');
      assert.deepEqual(readRuns(out).filter((run) => spinIds.includes(run.jobId)).map((run) => run.attempt), [1, 1], 'the spins still run');
      busy.open();
      await waitFor('all done', async () => (await db.query(`select 1 from jobs where job_id = any($1) and job_status = 'success'`, [[...spinIds, late.id]])).length === 3);
    } finally {
      busy.open();
    }
    await stop(supervisor);
  });

  it('claims in priority order', async () => {
    const added = await queue.addMany([5, -1, 3, 0].map((priority) => ({ task: 'recorded', priority, queue: 'prio' })));
    const supervisor = await start({ threads: 1, concurrency: 1, queues: ['prio'] });
    const ids = added.map((j) => j.id);
    await waitFor('all ran', () => readRuns(out).filter((run) => ids.includes(run.jobId)).length === 4);
    const order = readRuns(out).filter((run) => ids.includes(run.jobId)).map((run) => run.jobId);
    assert.deepEqual(order, [ids[1], ids[3], ids[2], ids[0]]);
    await stop(supervisor);
  });

  it('serves only its --queues and only the tasks its module defines', async () => {
    const supervisor = await start({ queues: 'wanted', threads: 1, concurrency: 1 });
    // In claim order the other queue's job and the unknown task come first:
    // a claim that ignored either filter would take them before `wanted`.
    const [other, unknown, wanted] = await queue.addMany([
      { task: 'noop', queue: 'other' },
      { task: 'notATask', queue: 'wanted' },
      { task: 'noop', queue: 'wanted' },
    ]);
    await waitFor('wanted job done', async () => (await statusOf(wanted!.id)) === 'success');
    for (const skipped of [other!, unknown!]) {
      const row = await job(skipped.id);
      assert.deepEqual([row.job_status, row.attempts, row.last_error], ['pending', 0, null], `job ${skipped.id} was never claimed`);
    }
    assert.equal(supervisor.stats.claimed, 1);
    await queue.cancel([other!.id, unknown!.id]);
    await stop(supervisor);
  });

  it('does not claim a job before its run_at', async () => {
    const supervisor = await start({ pollInterval: 100 });
    const runAt = new Date(Date.now() + 1500);
    const later = await queue.add('noop', {}, { runAt });
    const now = await queue.add('noop');
    await waitFor('the due job done', async () => (await statusOf(now.id)) === 'success');
    assert.equal(await statusOf(later.id), 'pending');
    await waitFor('the scheduled job done', async () => (await statusOf(later.id)) === 'success', 10_000);
    const done = await job(later.id);
    assert.ok(done.finished_at.getTime() >= runAt.getTime());
    await stop(supervisor);
  });
});

describe('failures and retries', () => {
  let supervisor: Supervisor;
  before(async () => {
    // A one-minute poll: anything picked up quickly below came by NOTIFY.
    supervisor = await start({ pollInterval: '60s' });
  });
  after(() => stop(supervisor));

  it('retries with backoff, keeps the error and stack, then fails after max attempts', async () => {
    const stats = { ...supervisor.stats };
    const added = await queue.add('fail', {}, { maxAttempts: 2 });
    await waitFor('first attempt failed', async () => (await job(added.id)).attempts === 1 && (await statusOf(added.id)) === 'pending');
    const first = await job(added.id);
    const delay = first.run_at.getTime() - first.updated_at.getTime();
    assert.ok(delay >= 3_700 && delay <= 6_300, `first retry ${delay} ms after the failure, expected 5 s ± 25%`);
    assert.match(first.last_error, /^\[E_ON_PURPOSE\] Error: failing on purpose \(attempt 1\)\n\s+at fail /);
    assert.equal(first.locked_by, null);

    // Let time pass: make the retry due now (the re-queue trigger wakes the supervisor).
    await db.query(`update jobs set run_at = now() where job_id = $1`, [added.id]);
    await waitFor('second attempt failed', async () => (await statusOf(added.id)) === 'failed');
    const failed = await job(added.id);
    assert.equal(failed.attempts, 2);
    assert.match(failed.last_error, /failing on purpose \(attempt 2\)/);
    assert.ok(failed.finished_at);
    assert.deepEqual([supervisor.stats.retried - stats.retried, supervisor.stats.failed - stats.failed], [1, 1]);
  });

  it('backs off longer on later attempts', async () => {
    const added = await queue.add('fail', {}, { maxAttempts: 5 });
    await waitFor('attempt 1 failed', async () => (await job(added.id)).attempts === 1 && (await statusOf(added.id)) === 'pending');
    await db.query(`update jobs set run_at = now() where job_id = $1`, [added.id]);
    await waitFor('attempt 2 failed', async () => (await job(added.id)).attempts === 2 && (await statusOf(added.id)) === 'pending');
    const second = await job(added.id);
    const delay = second.run_at.getTime() - second.updated_at.getTime();
    assert.ok(delay >= 7_400 && delay <= 12_600, `second retry ${delay} ms after the failure, expected 10 s ± 25%`);
    await queue.cancel([added.id]);
  });

  it('succeeds on a later attempt', async () => {
    const added = await queue.add('failUntil', { succeedOn: 2 });
    await waitFor('attempt 1 failed', async () => (await job(added.id)).attempts === 1 && (await statusOf(added.id)) === 'pending');
    await db.query(`update jobs set run_at = now() where job_id = $1`, [added.id]);
    await waitFor('success', async () => (await statusOf(added.id)) === 'success');
    assert.equal((await job(added.id)).attempts, 2);
  });

  it('records an error whose message holds a NUL character, and keeps writing outcomes', async () => {
    const added = await queue.add('failWithNul', {}, { maxAttempts: 1 });
    await waitFor('failed', async () => (await statusOf(added.id)) === 'failed');
    assert.match((await job(added.id)).last_error, /^Error: before\\0after\n/);
    const next = await queue.add('noop');
    await waitFor('the next job done', async () => (await statusOf(next.id)) === 'success');
  });

  it('records a thrown non-Error', async () => {
    const added = await queue.add('throwString', {}, { maxAttempts: 1 });
    await waitFor('failed', async () => (await statusOf(added.id)) === 'failed');
    assert.equal((await job(added.id)).last_error, "non-Error value thrown: 'a plain string'");
  });

  it("picks up jobs re-queued with the original worker's SQL, without a restart", async () => {
    const added = await queue.add('failUntil', { succeedOn: 2 }, { maxAttempts: 1 });
    await waitFor('failed', async () => (await statusOf(added.id)) === 'failed');
    await db.query(`update jobs set job_status='pending' where job_status='failed' and job_id = $1`, [added.id]);
    // Well before the one-minute poll: the update's trigger woke the supervisor.
    await waitFor('re-run succeeded', async () => (await statusOf(added.id)) === 'success', 30_000);
    assert.equal((await job(added.id)).attempts, 2);
  });
});

describe('a task directory', () => {
  it('runs one task per file and skips files starting with _', async () => {
    const supervisor = await start({ tasks: join(fixtures, 'tasks-dir'), queues: 'dir', threads: 1, concurrency: 1 });
    // `_helper` comes first in claim order: claimed as a task, it would run (and fail) first.
    const [helper, greet] = await queue.addMany([{ task: '_helper', queue: 'dir' }, { task: 'greet', payload: { name: 'dir' }, queue: 'dir' }]);
    await waitFor('greeted', async () => (await statusOf(greet!.id)) === 'success');
    const row = await job(helper!.id);
    assert.deepEqual([row.job_status, row.attempts, row.last_error], ['pending', 0, null]);
    assert.ok(readRuns(out).some((run) => run.jobId === greet!.id));
    await queue.cancel([helper!.id]);
    await stop(supervisor);
  });
});
