/**
 * Queue.waitFor: resolves with a job that succeeded, rejects with the error
 * of one that failed for good or was cancelled, and with a timeout. It is
 * woken by the job's end, whoever brings it (a supervisor, plain SQL, a
 * delete), and survives the loss of its listening connection.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobFailedError, Queue, WaitTimeoutError } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';

let db: TestDb;
let queue: Queue;

before(async () => {
  db = await testDb('wait_for');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

/** Backends listening on the finished channel (the Queue's waiting connection). */
async function listeners(): Promise<{ pid: number }[]> {
  return db.query(`select pid from pg_stat_activity where query = $1`, [`listen "${db.schema}_finished"`]);
}

describe('waitFor', () => {
  it('resolves with the result, and rejects with the error of a job that failed or was cancelled', async () => {
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
    const running = new SupervisorProcess(['--tasks', join(fixtures, 'tasks.js'), '--metrics-port', '0', '--threads', '1'], env);
    try {
      await running.started();
      const done = await queue.add('returns', { value: { total: 42 } });
      const failing = await queue.add('fail', {}, { maxAttempts: 1 });
      const slow = await queue.add('waitUntil', { gate: '/nonexistent/never' });
      const results = await Promise.allSettled([
        queue.waitFor(done.id),
        queue.waitFor(failing.id),
        queue.waitFor(slow.id),
        waitFor('the slow job running', async () => (await db.job(slow.id)).job_status === 'running').then(() => queue.cancel([slow.id])),
      ]);
      const [succeeded, failed, cancelled] = results;
      assert.equal(succeeded.status, 'fulfilled');
      assert.deepEqual(succeeded.value.result, { total: 42 });
      assert.equal(succeeded.value.job_status, 'success');
      assert.equal(failed.status, 'rejected');
      assert.ok(failed.reason instanceof JobFailedError);
      assert.match(failed.reason.message, new RegExp(`job ${failing.id} \\(fail\\) failed after 1 attempt: .*failing on purpose`));
      assert.equal(failed.reason.job.job_status, 'failed');
      assert.equal(cancelled.status, 'rejected');
      assert.match((cancelled.reason as Error).message, new RegExp(`job ${slow.id} \\(waitUntil\\) was cancelled`));
    } finally {
      await running.stop();
    }
  });

  it('is woken by an end written with plain SQL, and by a delete, on one shared connection', async () => {
    const [a, b, c] = await queue.addMany([{ task: 'none' }, { task: 'none' }, { task: 'none' }]);
    const waits = [a, a, b].map((job) => queue.waitFor(job!.id));
    const deleted = queue.waitFor(c!.id).then(() => 'resolved', (error: Error) => error.message);
    await waitFor('the jobs marked as awaited', async () => (await db.query('select 1 from jobs where awaited and job_id = any($1::bigint[])', [[a!.id, b!.id, c!.id]])).length === 3);
    assert.equal((await listeners()).length, 1, 'four waits share one listening connection');
    await db.query(`update jobs set job_status = 'success', result = '"by hand"', finished_at = now() where job_id = any($1::bigint[])`, [[a!.id, b!.id]]);
    await db.query('delete from jobs where job_id = $1', [c!.id]);
    assert.deepEqual((await Promise.all(waits)).map((job) => job.result), ['by hand', 'by hand', 'by hand']);
    assert.match(await deleted, new RegExp(`there is no job ${c!.id}`));
    await waitFor('the listening connection given back', async () => (await listeners()).length === 0);
  });

  it('resolves at once for a job that already ended, and times out on one that does not end', async () => {
    const { id } = await queue.add('none');
    await db.query(`update jobs set job_status = 'success', result = '7' where job_id = $1`, [id]);
    assert.equal((await queue.waitFor(id)).result, 7);
    const later = await queue.add('none', {}, { runAt: new Date(Date.now() + 3_600_000) });
    const timedOut = await queue.waitFor(later.id, { timeout: '200ms' }).catch((error: unknown) => error);
    assert.ok(timedOut instanceof WaitTimeoutError);
    assert.match(timedOut.message, new RegExp(`job ${later.id} \\(none\\) is still pending after waiting 200 ms`));
    await assert.rejects(queue.waitFor('12abc'), /waitFor takes a job id/);
    await assert.rejects(queue.waitFor(later.id, { timeout: -1 }), /timeout must be 0 or more milliseconds, or a duration such as '30s' \(got -1\)/);
  });

  it('hears the end after its listening connection was killed', async () => {
    const { id } = await queue.add('none');
    const waiting = queue.waitFor(id);
    const [listener] = (await waitFor('a listening connection', () => listeners().then((rows) => rows.length === 1 && rows))) as { pid: number }[];
    await db.query('select pg_terminate_backend($1)', [listener!.pid]);
    await waitFor('listening again on a new connection', async () => (await listeners()).some((row) => row.pid !== listener!.pid));
    await db.query(`update jobs set job_status = 'success' where job_id = $1`, [id]);
    assert.equal((await waiting).job_status, 'success');
  });
});
