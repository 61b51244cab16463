import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, startSupervisor, type Supervisor, type SupervisorOptions } from '../src/index.js';
import { defaultThreadMemoryMb } from '../src/config.js';
import { fixtures, SupervisorProcess, type LogLine } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const out = recordFile();

before(async () => {
  process.env.TEST_OUT = out;
  db = await testDb('isolation');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

const job = (id: string) => db.job(id);
const settled = (id: string, timeoutMs = 20_000) =>
  waitFor(`job ${id} settled`, async () => ['success', 'failed'].includes((await job(id)).job_status), timeoutMs);
const runsOf = (id: string) => readRuns(out).filter((run) => run.jobId === id);

/** A supervisor whose next job must still succeed after each fault. */
async function withSupervisor(options: SupervisorOptions, fn: (supervisor: Supervisor) => Promise<void>): Promise<void> {
  const supervisor = await startSupervisor({
    connectionString: db.url, schema: db.schema, tasks: join(fixtures, 'tasks.js'), logLevel: 'silent', ...options,
  });
  try {
    await fn(supervisor);
    const next = await queue.add('recorded', {}, { queue: String(options.queues) });
    await settled(next.id);
    assert.equal((await job(next.id)).job_status, 'success', 'the supervisor keeps running jobs');
  } finally {
    await supervisor.stop();
  }
}

describe('a job that misbehaves fails alone', () => {
  it('a synchronous infinite loop is stopped by --job-timeout: its thread is terminated', async () => {
    await withSupervisor({ threads: 1, jobTimeout: 400, queues: 'loop' }, async () => {
      const hung = await queue.add('hang', {}, { queue: 'loop', maxAttempts: 1 });
      await settled(hung.id);
      const row = await job(hung.id);
      assert.equal(row.job_status, 'failed');
      assert.match(row.last_error, /^JobTimeoutError: job timed out after 0.4s and did not stop within 1s of its abort signal, so its thread was terminated/);
    });
  });

  it("a job's own timeout aborts its signal first, and it can stop cooperatively", async () => {
    await withSupervisor({ threads: 1, queues: 'coop' }, async () => {
      const added = await queue.add('cooperative', {}, { queue: 'coop', timeout: 300, maxAttempts: 2 });
      await waitFor('first attempt failed', async () => (await job(added.id)).attempts === 1 && (await job(added.id)).job_status === 'pending');
      const row = await job(added.id);
      assert.match(row.last_error, /^JobTimeoutError: job timed out after 0.3s/);
      assert.doesNotMatch(row.last_error, /terminated/);
    });
  });

  it('process.exit() in a handler fails only that job; a job beside it in the thread runs again without losing an attempt', async () => {
    await withSupervisor({ threads: 1, concurrency: 2, queues: 'exit' }, async (supervisor) => {
      const release = gate();
      const sleeper = await queue.add('waitUntil', { gate: release.path }, { queue: 'exit' });
      await waitFor('sleeper started', () => runsOf(sleeper.id).length === 1);
      const exiter = await queue.add('exit', { code: 3 }, { queue: 'exit', maxAttempts: 1 });
      await settled(exiter.id);
      const row = await job(exiter.id);
      assert.equal(row.job_status, 'failed');
      assert.equal(row.last_error, 'the handler called process.exit(3), which ended its worker thread');
      await waitFor('sleeper started again', () => runsOf(sleeper.id).length === 2);
      release.open();
      await settled(sleeper.id);
      const victim = await job(sleeper.id);
      assert.equal(victim.job_status, 'success');
      assert.equal(victim.attempts, 1, 'the attempt cut short by the other job was not counted');
      assert.deepEqual(runsOf(sleeper.id).map((run) => run.attempt), [1, 1]);
      assert.equal(supervisor.stats.released, 1);
    });
  });

  it('process.exit() after an await is still named when its job runs alone in its thread', async () => {
    await withSupervisor({ threads: 1, concurrency: 1, queues: 'exit-later' }, async () => {
      const exiter = await queue.add('exitLater', { code: 4 }, { queue: 'exit-later', maxAttempts: 1 });
      await settled(exiter.id);
      const row = await job(exiter.id);
      assert.equal(row.job_status, 'failed');
      assert.equal(row.last_error, 'the handler called process.exit(4), which ended its worker thread');
    });
  });

  it('a job that exceeds --thread-memory-mb fails; the pool replaces the thread', async () => {
    await withSupervisor({ threads: 1, threadMemoryMb: 48, queues: 'oom' }, async () => {
      const hog = await queue.add('hog', {}, { queue: 'oom', maxAttempts: 1 });
      await settled(hog.id);
      const row = await job(hog.id);
      assert.equal(row.job_status, 'failed');
      assert.match(row.last_error, /^the job ran out of memory: its thread exceeded the heap limit \(--thread-memory-mb 48\)/);
    });
  });

  it('a runaway allocation fails at the default heap limit, derived from memory and threads', async () => {
    await withSupervisor({ threads: 1, queues: 'oom-default' }, async () => {
      const hog = await queue.add('hog', {}, { queue: 'oom-default', maxAttempts: 1 });
      // About 5 s on an idle machine (1 GB); the message, not the time, tells the default from Node's own limit.
      await settled(hog.id, 100_000);
      const row = await job(hog.id);
      assert.equal(row.job_status, 'failed');
      assert.match(row.last_error, new RegExp(`heap limit \\(--thread-memory-mb ${defaultThreadMemoryMb(1)}\\)`));
    });
  });

  it('a timed-out job takes its thread down, but the jobs beside it run again without losing an attempt', async () => {
    await withSupervisor({ threads: 1, concurrency: 2, queues: 'victim' }, async () => {
      const release = gate();
      const sleeper = await queue.add('waitUntil', { gate: release.path }, { queue: 'victim' });
      await waitFor('sleeper started', () => runsOf(sleeper.id).length === 1);
      const hung = await queue.add('hang', {}, { queue: 'victim', timeout: 300, maxAttempts: 1 });
      await settled(hung.id);
      assert.equal((await job(hung.id)).job_status, 'failed');
      await waitFor('sleeper started again', () => runsOf(sleeper.id).length === 2);
      release.open();
      await settled(sleeper.id);
      const victim = await job(sleeper.id);
      assert.equal(victim.job_status, 'success');
      assert.equal(victim.attempts, 1);
    });
  });
});

describe('errors a job leaves behind, and what the log says', () => {
  const tasks = join(fixtures, 'tasks.js');

  it('a stray rejection or throw is blamed on its own job alone, and the thread lives on', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--concurrency', '8', '--queues', 'stray'], {
      DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out,
    });
    const release = gate();
    try {
      await supervisor.started();
      // Innocent jobs on the same (only) thread, running throughout.
      const innocents = await queue.addMany(Array.from({ length: 3 }, () => ({ task: 'waitUntil', payload: { gate: release.path }, queue: 'stray' })));
      await waitFor('the innocents started', () => innocents.every((job) => runsOf(job.id).length === 1));
      const [rejected, thrown, whileRunning] = await queue.addMany([
        { task: 'strayRejection', queue: 'stray', maxAttempts: 1 },
        { task: 'strayThrow', queue: 'stray', maxAttempts: 1 },
        { task: 'strayWhileRunning', queue: 'stray', maxAttempts: 1 },
      ]);
      const blamed = (id: string) => (line: LogLine) => line.level === 50 && line.jobId === id;
      const afterReturn = await supervisor.waitForLog(blamed(rejected!.id));
      assert.match(String(afterReturn.msg), /^an unhandled promise rejection in job \d+ \(strayRejection\) after it had finished: its outcome stands/);
      assert.match(String((await supervisor.waitForLog(blamed(thrown!.id))).msg), /^an uncaught exception in job \d+ \(strayThrow\) after it had finished/);
      assert.match(String((await supervisor.waitForLog(blamed(whileRunning!.id))).msg), /^an unhandled promise rejection in job \d+ \(strayWhileRunning\): the job fails with it/);
      await settled(whileRunning!.id);
      const failed = await job(whileRunning!.id);
      assert.equal(failed.job_status, 'failed');
      assert.match(failed.last_error, /^an unhandled promise rejection in the job's code: Error: stray in \d+/);
      for (const done of [rejected!, thrown!]) assert.equal((await job(done.id)).job_status, 'success', 'its outcome stands');

      release.open();
      for (const innocent of innocents) {
        await settled(innocent.id);
        const row = await job(innocent.id);
        assert.deepEqual([row.job_status, row.attempts], ['success', 1]);
        assert.equal(runsOf(innocent.id).length, 1, 'never run again');
      }
      assert.deepEqual(supervisor.lines.filter((line) => /^worker thread/.test(String(line.msg))), [], 'no thread died');
    } finally {
      release.open();
      await supervisor.stop();
    }
  });

  it('logs each job that fails for good once (warn), each thread death once (error) naming its job, and no retry above debug', async () => {
    const supervisor = new SupervisorProcess(['--tasks', tasks, '--threads', '1', '--concurrency', '2', '--queues', 'logged'], {
      DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out,
    });
    try {
      await supervisor.started();
      const failing = await queue.add('fail', {}, { queue: 'logged', maxAttempts: 1 });
      const retrying = await queue.add('failUntil', { succeedOn: 99 }, { queue: 'logged', maxAttempts: 2 });
      await waitFor('attempt 1 of the retried job failed', async () => (await job(retrying.id)).attempts === 1 && (await job(retrying.id)).job_status === 'pending');
      const exiting = await queue.add('exit', { code: 3 }, { queue: 'logged', maxAttempts: 1 });
      const hanging = await queue.add('hang', {}, { queue: 'logged', timeout: 300, maxAttempts: 1 });
      for (const id of [failing.id, exiting.id, hanging.id]) await settled(id);

      const about = (id: string) => supervisor.lines.filter((line) => line.jobId === id || JSON.stringify(line.blamed ?? []).includes(`"${id}"`));
      const [failedLine, ...moreFailed] = about(failing.id);
      assert.equal(moreFailed.length, 0);
      assert.equal(failedLine!.level, 40);
      assert.equal(failedLine!.msg, `job ${failing.id} (fail) failed after 1 attempt(s): [E_ON_PURPOSE] Error: failing on purpose (attempt 1)`);
      assert.deepEqual(about(retrying.id), [], 'a retried attempt is logged at debug only');
      for (const [id, cause] of [[exiting.id, /process\.exit\(3\)/], [hanging.id, /JobTimeoutError/]] as const) {
        const lines = about(id).filter((line) => line.level === 50);
        assert.equal(lines.length, 1, `one error line for the thread death of job ${id}`);
        assert.match(String(lines[0]!.msg), new RegExp(`^worker thread \\d+ ended: .*${cause.source}.*Failed: job ${id} \\(`));
      }
      const deaths = supervisor.lines.filter((line) => line.level === 50 && /^worker thread/.test(String(line.msg)));
      assert.equal(deaths.length, 2, `two threads died, each logged once: ${deaths.map((line) => line.msg).join(' | ')}`);
    } finally {
      await supervisor.stop();
    }
  });
});
