// No value that SQL can put in a row stops the other jobs: what the table
// must never hold is refused by a named constraint, rows written before
// the constraints are mended by the migration, and everything else a
// supervisor process claims and runs beside a canary job.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listMigrations, migrate } from '../src/db/migrate.js';
import { migrationStatements } from '../src/db/sql/migrations.js';
import { silentLogger } from '../src/log.js';
import { migrationsDir } from '../src/paths.js';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { testDb, waitFor, type TestDb } from './helpers/db.js';
import { recordFile } from './helpers/records.js';

let db: TestDb;
before(async () => {
  db = await testDb('bad_rows');
});
after(() => db.drop());

describe('the jobs table refuses, naming the rule', () => {
  const refused: [string, string, string][] = [
    ['a run_at of -infinity', `insert into jobs (task, run_at) values ('t', '-infinity')`, 'jobs_run_at_finite'],
    ['a run_at of infinity', `insert into jobs (task, run_at) values ('t', 'infinity')`, 'jobs_run_at_finite'],
    ['a negative attempt count', `insert into jobs (task, attempts) values ('t', -1)`, 'jobs_attempts_not_negative'],
    ['a running job without a lease', `insert into jobs (task, job_status, locked_by) values ('t', 'running', 'x')`, 'jobs_running_has_lease'],
    ['a running job without a holder', `insert into jobs (task, job_status, locked_until) values ('t', 'running', now())`, 'jobs_running_has_lease'],
    ['a running job leased forever', `insert into jobs (task, job_status, locked_by, locked_until) values ('t', 'running', 'x', 'infinity')`, 'jobs_running_has_lease'],
    ['no attempts at all', `insert into jobs (task, max_attempts) values ('t', 0)`, 'jobs_max_attempts_check'],
    ['a timeout of zero', `insert into jobs (task, timeout_ms) values ('t', 0)`, 'jobs_timeout_ms_check'],
  ];
  for (const [what, sql, constraint] of refused) {
    it(what, async () => {
      await assert.rejects(db.query(sql), (error: Error & { constraint?: string }) => {
        assert.equal(error.constraint, constraint);
        assert.match(error.message, new RegExp(constraint));
        return true;
      });
    });
  }
});

it('the migration mends rows written before the rules: nothing is lost, and nothing stays stuck', async () => {
  const old = await testDb('bad_rows_old', { migrated: false });
  try {
    // The schema as it was before the rules (every migration up to 003).
    const sql = migrationStatements(old.schema);
    await old.query(sql.createSchema.text);
    await old.query(sql.createTable.text);
    for (const migration of (await listMigrations()).filter((m) => m.version <= 3)) {
      await old.query(await readFile(join(migrationsDir, migration.file), 'utf8'));
      await old.query(sql.record.text, [migration.version, migration.name]);
    }
    const [minus, plus, negative, unleased, finished] = await old.query<{ job_id: string }>(
      `insert into jobs (task, run_at, attempts, job_status, locked_by, locked_until, finished_at) values
         ('t', '-infinity', 0, 'pending', null, null, null),
         ('t', 'infinity', 0, 'pending', null, null, null),
         ('t', now(), -5, 'pending', null, null, null),
         ('t', now(), 1, 'running', null, null, null),
         ('t', 'infinity', 1, 'success', null, null, now())
       returning job_id`,
    );
    assert.ok((await migrate(old.pool, old.schema, silentLogger())).includes(4));
    const row = async (job: { job_id: string } | undefined) => old.job(job!.job_id);
    for (const job of [minus, plus]) {
      const mended = await row(job);
      assert.equal(mended.job_status, 'failed');
      assert.match(mended.last_error, /^cannot run: run_at was -?infinity; set a finite run_at and retry the job$/);
    }
    assert.equal((await row(negative)).attempts, 0);
    const lease = await row(unleased);
    assert.deepEqual([lease.job_status, lease.locked_by], ['running', 'unknown']);
    assert.ok(lease.locked_until.getTime() <= Date.now() + 1000, 'an expired lease, for recovery to return');
    assert.equal((await row(finished)).job_status, 'success');
  } finally {
    await old.drop();
  }
});

it('a supervisor claims and runs every row the rules allow beside a canary, without one failed claim', async () => {
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  const echoes = recordFile();
  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '1', '--concurrency', '4', '--queues', 'extremes', '--lease', '1s'],
    { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_ECHO: echoes },
  );
  try {
    await supervisor.started();
    const extremes = await db.query<{ job_id: string; note: string }>(
      `insert into jobs (task, queue, job_data, priority, attempts, max_attempts, run_at, timeout_ms) values
         ('echo', 'extremes', '{"note": "oldest run_at"}', 0, 0, 3, '4713-01-01 00:00:00+00 BC', null),
         ('echo', 'extremes', '{"note": "lowest priority value"}', -2147483648, 0, 3, now(), null),
         ('echo', 'extremes', '{"note": "highest priority value"}', 2147483647, 0, 3, now(), null),
         ('echo', 'extremes', '{"note": "attempts at the int limit"}', 0, 2147483647, 3, now(), null),
         ('echo', 'extremes', '{"note": "most attempts allowed"}', 0, 0, 2147483647, now(), null),
         ('echo', 'extremes', '{"note": "longest timeout"}', 0, 0, 3, now(), 2147483647),
         ('echo', 'extremes', '[1, 2, 3]', 0, 0, 3, now(), null),
         ('echo', 'extremes', '"a string"', 0, 0, 3, now(), null),
         ('echo', 'extremes', 'null', 0, 0, 3, now(), null),
         ('echo', 'extremes', '42', 0, 0, 3, now(), null)
       returning job_id, job_data::text as note`,
    );
    const [never] = await db.query(`insert into jobs (task, queue, run_at) values ('noop', 'extremes', '9999-12-31') returning job_id`);
    const [leaseless] = await db.query(
      `insert into jobs (task, queue, job_status, attempts, locked_by, locked_until) values ('noop', 'extremes', 'running', 1, 'gone', now() - interval '1 hour') returning job_id`,
    );
    const canary = await queue.add('noop', {}, { queue: 'extremes' });
    const ids = [...extremes.map((row) => row.job_id), leaseless.job_id, canary.id];
    await waitFor('every runnable row done', async () =>
      (await db.query(`select 1 from jobs where job_id = any($1) and job_status = 'success'`, [ids])).length === ids.length);
    // Each handler got its payload as stored, whatever JSON it is.
    const echoed = new Map(readFileSync(echoes, 'utf8').trim().split('\n').map((line) => line.split('\t') as [string, string]));
    for (const { job_id, note } of extremes) assert.deepEqual(JSON.parse(echoed.get(job_id)!), JSON.parse(note));
    assert.equal((await db.job(never.job_id)).job_status, 'pending', 'a job due in the year 9999 waits');
    assert.equal((await db.job(leaseless.job_id)).attempts, 2, 'the expired lease was recovered, then run');
    assert.equal((await db.job(extremes[3]!.job_id)).attempts, 2147483647);
    const complaints = supervisor.lines.filter((line) => Number(line.level) >= 50 || /claim failed|could not write/.test(String(line.msg)));
    assert.deepEqual(complaints, []);
  } finally {
    await queue.close();
    await supervisor.stop();
  }
});
