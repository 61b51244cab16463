import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, startSupervisor, type Supervisor, type SupervisorOptions } from '../src/index.js';
import { fixtures } from './helpers/cli.js';
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
const settled = (id: string) => waitFor(`job ${id} settled`, async () => ['success', 'failed'].includes((await job(id)).job_status), 20_000);
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
