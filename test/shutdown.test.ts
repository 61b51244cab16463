import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const out = recordFile();
let env: NodeJS.ProcessEnv;

before(async () => {
  db = await testDb('shutdown');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
});
after(async () => {
  await queue.close();
  await db.drop();
});

const job = (id: string) => db.job(id);
const runsOf = (id: string) => readRuns(out).filter((run) => run.jobId === id);
const tasks = join(fixtures, 'tasks.js');

describe('graceful shutdown on SIGTERM', () => {
  it('lets running jobs finish within --shutdown-timeout and exits 0', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '2', '--queues', 'finish', '--shutdown-timeout', '10s'], env);
    await supervisor.started();
    const sleeper = await queue.add('sleep', { ms: 1000 }, { queue: 'finish' });
    await waitFor('running', () => runsOf(sleeper.id).length === 1);
    supervisor.kill('SIGTERM');
    const { code } = await supervisor.exited;
    assert.equal(code, 0);
    const row = await job(sleeper.id);
    assert.equal(row.job_status, 'success');
    assert.equal(row.attempts, 1);
    assert.deepEqual(await db.query(`select * from supervisors`), []);
  });

  it('hands back unstarted jobs at once, aborts the rest at the timeout, and leaves nothing running', async () => {
    const supervisor = new SupervisorProcess(
      ['--tasks', tasks, '--threads', '1', '--concurrency', '2', '--queues', 'abort', '--shutdown-timeout', '1s'],
      env,
    );
    await supervisor.started();
    const spinner = await queue.add('spin', { ms: 60_000 }, { queue: 'abort' });
    await waitFor('spinning', () => runsOf(spinner.id).length === 1);
    // Claimed, but stuck behind the busy thread: it cannot start.
    const waiting = await queue.add('recorded', {}, { queue: 'abort' });
    await waitFor('claimed', async () => (await job(waiting.id)).job_status === 'running');

    const started = Date.now();
    supervisor.kill('SIGTERM');
    await waitFor('the unstarted job handed back before the timeout', async () => (await job(waiting.id)).job_status === 'pending', 900);
    const { code } = await supervisor.exited;
    assert.equal(code, 0);
    assert.ok(Date.now() - started < 8000, 'exits soon after the shutdown timeout');

    const handedBack = await job(waiting.id);
    assert.equal(handedBack.attempts, 0, 'the unstarted claim is not counted');
    assert.equal(runsOf(waiting.id).length, 0);
    const aborted = await job(spinner.id);
    assert.equal(aborted.job_status, 'pending');
    assert.equal(aborted.attempts, 1, 'the aborted run is counted');
    assert.match(aborted.last_error, /aborted: the supervisor shut down before the job finished/);
    assert.deepEqual(await db.query(`select job_id from jobs where job_status = 'running'`), []);
    assert.deepEqual(await db.query(`select * from supervisors`), []);
    await queue.cancel([spinner.id, waiting.id]);
  });

  it('exits at once on a second signal', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--queues', 'twice', '--shutdown-timeout', '60s'], env);
    await supervisor.started();
    const sleeper = await queue.add('sleep', { ms: 30_000 }, { queue: 'twice' });
    await waitFor('running', () => runsOf(sleeper.id).length === 1);
    supervisor.kill('SIGTERM');
    await supervisor.waitForLog((line) => line.msg === 'shutting down: no new claims');
    supervisor.kill('SIGINT');
    const { code } = await supervisor.exited;
    assert.equal(code, 130);
    // Left for lease recovery.
    assert.equal((await job(sleeper.id)).job_status, 'running');
    await queue.cancel([sleeper.id]);
  });
});
