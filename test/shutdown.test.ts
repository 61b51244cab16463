import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

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
  it('hands back unstarted jobs at once, lets running jobs finish, and exits 0', async () => {
    const supervisor = new SupervisorProcess(
      ['--tasks', tasks, '--threads', '1', '--concurrency', '2', '--queues', 'finish', '--shutdown-timeout', '60s'],
      env,
    );
    const busy = gate();
    try {
      await supervisor.started();
      const spinner = await queue.add('spinUntil', { gate: busy.path }, { queue: 'finish' });
      await waitFor('spinning', () => runsOf(spinner.id).length === 1);
      // Claimed, but stuck behind the busy thread: it cannot start.
      const waiting = await queue.add('recorded', {}, { queue: 'finish' });
      await waitFor('claimed', async () => (await job(waiting.id)).job_status === 'running');

      supervisor.kill('SIGTERM');
      await waitFor('the unstarted job handed back', async () => (await job(waiting.id)).job_status === 'pending');
      const handedBack = await job(waiting.id);
      assert.equal(handedBack.attempts, 0, 'the unstarted claim is not counted');
      assert.equal((await job(spinner.id)).job_status, 'running', 'handed back while the running job still runs');
      busy.open();
      const { code } = await supervisor.waitForExit();
      assert.equal(code, 0);

      const finished = await job(spinner.id);
      assert.deepEqual([finished.job_status, finished.attempts], ['success', 1]);
      assert.equal(runsOf(waiting.id).length, 0, 'the handed-back job never ran here');
      assert.deepEqual(await db.query(`select * from supervisors`), []);
      await queue.cancel([waiting.id]);
    } finally {
      busy.open();
      await supervisor.stop();
    }
  });

  it('aborts jobs still running at --shutdown-timeout, puts them back with the attempt counted, and exits 0', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--queues', 'abort', '--shutdown-timeout', '1s'], env);
    const never = gate();
    try {
      await supervisor.started();
      const spinner = await queue.add('spinUntil', { gate: never.path }, { queue: 'abort' });
      await waitFor('spinning', () => runsOf(spinner.id).length === 1);
      supervisor.kill('SIGTERM');
      const { code } = await supervisor.waitForExit();
      assert.equal(code, 0);
      assert.ok(supervisor.lines.some((line) => line.msg === 'shutdown timeout: aborting running jobs'));

      const aborted = await job(spinner.id);
      assert.equal(aborted.job_status, 'pending');
      assert.equal(aborted.attempts, 1, 'the aborted run is counted');
      // Named so only when the shutdown terminated the spinning thread itself.
      assert.match(aborted.last_error, /aborted: the supervisor shut down before the job finished/);
      assert.deepEqual(await db.query(`select job_id from jobs where job_status = 'running'`), []);
      assert.deepEqual(await db.query(`select * from supervisors`), []);
      await queue.cancel([spinner.id]);
    } finally {
      never.open();
      await supervisor.stop();
    }
  });

  it('exits at once on a second signal', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--queues', 'twice', '--shutdown-timeout', '60s'], env);
    const never = gate();
    try {
      await supervisor.started();
      const sleeper = await queue.add('waitUntil', { gate: never.path }, { queue: 'twice' });
      await waitFor('running', () => runsOf(sleeper.id).length === 1);
      supervisor.kill('SIGTERM');
      await supervisor.waitForLog((line) => line.msg === 'shutting down: no new claims');
      supervisor.kill('SIGINT');
      // Well within the 60 s the first signal would have waited.
      const { code } = await supervisor.waitForExit(30_000);
      assert.equal(code, 130);
      // Left for lease recovery.
      assert.equal((await job(sleeper.id)).job_status, 'running');
      await queue.cancel([sleeper.id]);
    } finally {
      never.open();
      await supervisor.stop();
    }
  });
});
