/**
 * Adding jobs inside the application's own transaction, through
 * `Queue.add(..., { client })`, `addMany(..., { client })` and the SQL
 * function add_job(): a rolled-back transaction leaves no job and wakes no
 * supervisor; a committed one wakes them at the commit, and its jobs run.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
let listener: pg.Client;
let app: pg.Client;
/** Notifications on the schema's wake-up channel. */
let wakeUps = 0;

before(async () => {
  db = await testDb('transactional');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', () => wakeUps++);
  await listener.query(`listen "${db.schema}_jobs"`);
  app = new pg.Client({ connectionString: db.url });
  await app.connect();
});
after(async () => {
  await app.end();
  await listener.end();
  await queue.close();
  await db.drop();
});

/** Every notification sent so far has arrived once a statement on the listening connection returns. */
async function heard(): Promise<number> {
  await sleep(100);
  await listener.query('select 1');
  return wakeUps;
}

/** Adds three jobs in one transaction of the application's, in each of the three ways; returns their ids. */
async function addInTransaction(tag: string): Promise<string[]> {
  const one = await queue.add('echo', { tag }, { client: app, queue: 'tx' });
  const many = await queue.addMany([{ task: 'echo', payload: { tag }, queue: 'tx' }], { client: app });
  const { rows } = await app.query<{ id: string }>(`select "${db.schema}".add_job('echo', $1::jsonb, queue => 'tx') as id`, [JSON.stringify({ tag })]);
  return [one.id, many[0]!.id, rows[0]!.id];
}

describe('transactional enqueue', () => {
  it('a rolled-back transaction leaves no job and wakes no supervisor', async () => {
    const before = await heard();
    await app.query('begin');
    const ids = await addInTransaction('rolled back');
    const inside = await app.query(`select count(*)::int as n from "${db.schema}".jobs where job_id = any($1::bigint[])`, [ids]);
    assert.equal(inside.rows[0].n, 3, 'the transaction sees its jobs');
    assert.equal(await heard(), before, 'no wake-up before the commit');
    await app.query('rollback');
    assert.equal(await heard(), before, 'no wake-up for a rollback');
    assert.equal((await db.query('select 1 from jobs where job_id = any($1::bigint[])', [ids])).length, 0);
  });

  it('a committed transaction wakes the supervisors at the commit, and its jobs run', async () => {
    const echoes = recordFile();
    const running = new SupervisorProcess(
      ['--tasks', join(fixtures, 'tasks.js'), '--metrics-port', '0', '--queues', 'tx', '--poll-interval', '60s'],
      { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_ECHO: echoes },
    );
    try {
      await running.started();
      const before = await heard();
      await app.query('begin');
      const ids = await addInTransaction('committed');
      assert.equal(await heard(), before, 'nothing heard before the commit');
      await app.query('commit');
      assert.ok((await heard()) > before, 'woken at the commit');
      await waitFor('the three jobs done', async () =>
        (await db.query(`select 1 from jobs where job_id = any($1::bigint[]) and job_status = 'success'`, [ids])).length === 3, 10_000);
    } finally {
      await running.stop();
    }
  });

  it('add_job takes named arguments, applies the task defaults, and returns the existing job for a job key', async () => {
    await db.query(`insert into task_defaults (task, queue, priority, max_attempts) values ('defaulted', 'mail', 4, 7)`);
    const [{ id }] = (await db.query<{ id: string }>(`select add_job(task => 'defaulted', job_key => 'once') as id`)) as [{ id: string }];
    const [{ again }] = (await db.query<{ again: string }>(`select add_job('defaulted', '{"x":1}', job_key => 'once') as again`)) as [{ again: string }];
    assert.equal(again, id);
    const job = await queue.getJob(id);
    assert.deepEqual([job?.queue, job?.priority, job?.max_attempts, job?.job_data], ['mail', 4, 7, '{}']);
    const [{ own }] = (await db.query<{ own: string }>(`select add_job('defaulted', queue => 'other', max_attempts => 1, run_at => now() + interval '1 hour') as own`)) as [{ own: string }];
    const mine = await queue.getJob(own);
    assert.deepEqual([mine?.queue, mine?.priority, mine?.max_attempts, mine?.job_status], ['other', 4, 1, 'pending']);
    assert.ok(mine!.run_at.getTime() > Date.now() + 3_000_000);
  });
});
