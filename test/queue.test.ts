import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { testDb, type TestDb } from './helpers/db.js';
import { silentServer } from './helpers/ports.js';

let db: TestDb;
let queue: Queue;

before(async () => {
  db = await testDb('queue');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

describe('Queue', () => {
  it('adds a job with every option', async () => {
    const runAt = new Date(Date.now() + 60_000);
    const options = { queue: 'mail', runAt, priority: 3, maxAttempts: 9, jobKey: 'welcome:a', timeout: 1500 };
    const added = await queue.add('send', { to: 'a@example.com' }, options);
    assert.equal(added.created, true);
    const [job] = await db.query(`select * from jobs where job_id = $1`, [added.id]);
    assert.deepEqual(job.job_data, { to: 'a@example.com' });
    assert.equal(job.queue, 'mail');
    assert.equal(job.run_at.getTime(), runAt.getTime());
    assert.equal(job.priority, 3);
    assert.equal(job.max_attempts, 9);
    assert.equal(job.job_key, 'welcome:a');
    assert.equal(job.timeout_ms, 1500);
    assert.equal(job.attempts, 0);
    assert.equal(job.job_status, 'pending');
  });

  it('applies the column defaults', async () => {
    const added = await queue.add('plain');
    const [job] = await db.query(`select * from jobs where job_id = $1`, [added.id]);
    assert.equal(job.queue, 'default');
    assert.equal(job.priority, 0);
    assert.equal(job.max_attempts, 3);
    assert.deepEqual(job.job_data, {});
  });

  it('addMany inserts thousands of jobs in order, in one call', async () => {
    const specs = Array.from({ length: 12_000 }, (_, i) => ({ task: 'bulk', payload: { i } }));
    const added = await queue.addMany(specs);
    assert.equal(added.length, 12_000);
    const rows = await db.query<{ job_id: string; i: number }>(
      `select job_id, (job_data->>'i')::int as i from jobs where task = 'bulk'`,
    );
    assert.equal(rows.length, 12_000);
    const byId = new Map(rows.map((row) => [row.job_id, row.i]));
    added.forEach((job, i) => assert.equal(byId.get(job.id), i));
  });

  it('de-duplicates on jobKey, within one call and across calls', async () => {
    const first = await queue.add('unique', { n: 1 }, { jobKey: 'only-once' });
    const again = await queue.add('unique', { n: 2 }, { jobKey: 'only-once' });
    assert.deepEqual(again, { id: first.id, created: false });
    const many = await queue.addMany([
      { task: 'unique', jobKey: 'k1' },
      { task: 'unique', jobKey: 'k1' },
      { task: 'unique', jobKey: 'only-once' },
      { task: 'unique' },
    ]);
    assert.equal(many[0]!.created, true);
    assert.deepEqual(many[1], { id: many[0]!.id, created: false });
    assert.deepEqual(many[2], { id: first.id, created: false });
    assert.equal(many[3]!.created, true);
    const [row] = await db.query(`select count(*)::int as n from jobs where task = 'unique'`);
    assert.equal(row.n, 3);
  });

  it('rejects invalid jobs before writing any', async () => {
    await assert.rejects(queue.addMany([{ task: 'ok' }, { task: '' }]), /job 1: task must be a non-empty string/);
    await assert.rejects(queue.add('x', {}, { maxAttempts: 0 }), /^ConfigError: maxAttempts must be a whole number from 1 to 2147483647 \(got 0\)$/);
    await assert.rejects(queue.add('x', {}, { runAt: new Date('nope') }), /runAt must be a valid Date/);
    await assert.rejects(queue.add('x', 10n), /BigInt/);
    await assert.rejects(queue.add('x', {}, { jobKey: 'k'.repeat(10_000) }), /^ConfigError: jobKey is 10000 bytes long; the limit is 1000 bytes/);
    await assert.rejects(queue.add('x', { text: 'a\u0000b' }), /^ConfigError: payload contains a NUL character/);
    await assert.rejects(queue.add('x\u0000y'), /^ConfigError: task contains a NUL character/);
    await assert.rejects(queue.add('x', {}, { queue: 'q\u0000' }), /^ConfigError: queue contains a NUL character/);
    const [row] = await db.query(`select count(*)::int as n from jobs where task in ('ok', 'x')`);
    assert.equal(row.n, 0);
  });

  it('keeps a backslash followed by u0000 in a payload: it is text, not a NUL', async () => {
    const added = await queue.add('escaped', { text: '\\u0000' });
    assert.deepEqual((await db.job(added.id)).job_data, { text: '\\u0000' });
  });

  it('says how to migrate a schema that has no tables yet, and writes nothing', async () => {
    const schema = `${db.schema}_bare`;
    const bare = new Queue({ connectionString: db.url, schema });
    try {
      await assert.rejects(bare.add('send'), new RegExp(`schema '${schema}' has no pg-supervisor tables yet \\(.*\\): run 'supervisor migrate --schema ${schema}'`));
    } finally {
      await bare.close();
    }
  });

  it('names the server that does not answer within connectTimeout', async () => {
    const silent = await silentServer();
    const unanswered = new Queue({ connectionString: `postgres://postgres@127.0.0.1:${silent.port}/app`, connectTimeout: 300 });
    try {
      await assert.rejects(unanswered.add('x'), new RegExp(`cannot connect to PostgreSQL at 127.0.0.1:${silent.port}/app: no answer within 0.3 s`));
    } finally {
      await unanswered.close();
      await silent.close();
    }
  });

  it('retries failed jobs with fresh attempts and cancels pending ones', async () => {
    const [failed] = await db.query(
      `insert into jobs (task, job_status, attempts, last_error) values ('r', 'failed', 3, 'boom') returning job_id`,
    );
    assert.deepEqual(await queue.retry({ task: 'r' }), [failed.job_id]);
    const [job] = await db.query(`select job_status, attempts, last_error from jobs where job_id = $1`, [failed.job_id]);
    assert.deepEqual(job, { job_status: 'pending', attempts: 0, last_error: 'boom' });
    assert.deepEqual(await queue.cancel([failed.job_id]), [failed.job_id]);
    assert.deepEqual(await queue.cancel([failed.job_id]), []);
    assert.deepEqual(await queue.retry({ ids: [failed.job_id] }), [failed.job_id]);
  });

  it('lists jobs newest first with filters', async () => {
    const added = await queue.addMany(Array.from({ length: 4 }, (_, i) => ({ task: 'listed', queue: i === 3 ? 'other' : 'default' })));
    const [running] = await db.query(`insert into jobs (task, job_status, locked_by, locked_until) values ('listed', 'running', 'x', now()) returning job_id`);
    const ids = (jobs: { job_id: string }[]) => jobs.map((job) => job.job_id);
    assert.deepEqual(ids(await queue.listJobs({ task: 'listed', limit: 3 })), [running.job_id, added[3]!.id, added[2]!.id]);
    assert.deepEqual(ids(await queue.listJobs({ task: 'listed', status: 'running' })), [running.job_id]);
    assert.deepEqual(ids(await queue.listJobs({ task: 'listed', queue: 'other' })), [added[3]!.id]);
    assert.deepEqual(ids(await queue.listJobs({ task: 'listed', limit: 2, before: added[3]!.id })), [added[2]!.id, added[1]!.id], 'the next page');
    await assert.rejects(queue.listJobs({ before: 'x' }), /before takes a job id/);
    await assert.rejects(queue.listJobs({ status: 'done' as never }), /status must be one of pending, running, success, failed, cancelled/);
  });

  it('retries, cancels and deletes every job matching a filter, in chunks, leaving the rest', async () => {
    const task = 'matching';
    const failed = await queue.addMany(Array.from({ length: 12 }, (_, i) => ({ task, payload: { customer: i < 6 ? 'ada' : 'bob' } })));
    await db.query(`update jobs set job_status = 'failed', last_error = 'boom' where job_id = any($1::bigint[])`, [failed.map((job) => job.id)]);
    const [running] = await db.query(`insert into jobs (task, job_status, locked_by, locked_until) values ($1, 'running', 'x', now() + interval '1 hour') returning job_id`, [task]);
    assert.equal((await queue.retry({ task, search: 'ADA' })).length, 6, 'the failed jobs with ada in their payload');
    assert.equal(await queue.countJobs({ task, status: 'failed' }), 6);
    await assert.rejects(queue.retry({ task, status: 'pending' }), /its status filter must be 'failed' or 'cancelled'/);
    const cancelled = await queue.cancel({ task, status: 'pending' });
    assert.equal(cancelled.length, 6);
    assert.equal((await queue.retry({ task, status: 'cancelled' })).length, 6, 'cancelled ones, when asked for');
    assert.equal((await queue.cancel({ task })).length, 7, 'the 6 pending and the running one');
    const deleted = await queue.deleteJobs({ task });
    assert.equal(deleted.length, 13, 'every job of the task: none is running any more');
    assert.equal(await queue.countJobs({ task }), 0);
    assert.ok(!deleted.includes('0') && deleted.includes(running.job_id));
    await assert.rejects(queue.cancel({ queue: 'x', colour: 'red' } as never), /a job filter takes status, queue, task and search; got colour/);
  });

  it('deletes jobs by id except running ones, and runs a schedule now', async () => {
    const { id } = await queue.add('gone');
    const [running] = await db.query(`insert into jobs (task, job_status, locked_by, locked_until) values ('gone', 'running', 'x', now() + interval '1 hour') returning job_id`);
    assert.deepEqual(await queue.deleteJobs([id, running.job_id]), [id]);
    await queue.schedule('nightly', '0 3 * * *', 'report', { kind: 'daily' }, { queue: 'reports' });
    const job = await queue.runSchedule('nightly');
    const row = await db.job(job.id);
    assert.deepEqual([row.task, row.queue, row.job_data, row.job_status], ['report', 'reports', { kind: 'daily' }, 'pending']);
    assert.match(row.job_key, /^cron:nightly:run:/);
    assert.notEqual((await queue.runSchedule('nightly')).id, job.id, 'each run adds a job');
    await assert.rejects(queue.runSchedule('nope'), /there is no schedule named 'nope'/);
  });

});
