// Supervisors, a Queue and the CLI through a real PgBouncer in transaction
// mode, whose few server connections every client's transactions share:
// a statement left prepared, or a setting left on a session, would land on
// another client's connection here. LISTEN needs a session of its own, so
// it goes straight to PostgreSQL (--listen-url) or the supervisor polls.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, runCli, SupervisorProcess } from './helpers/cli.js';
import { explained, statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { PgBouncer } from './helpers/pgbouncer.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let bouncer: PgBouncer;
before(async () => {
  db = await testDb('pgbouncer');
  bouncer = await PgBouncer.start(db.url);
});
after(async () => {
  await bouncer?.stop();
  await db.drop();
});

const tasks = join(fixtures, 'tasks.js');
const polling = (line: { msg?: string }) => String(line.msg).startsWith('behind a pooler (--pooler) with no --listen-url');

describe('behind PgBouncer in transaction mode', () => {
  it('says to give --pooler when started without it', async () => {
    const result = await runCli(['run', '--tasks', tasks, '--metrics-port', '0'], { DATABASE_URL: bouncer.url, SUPERVISOR_SCHEMA: db.schema });
    assert.equal(result.code, 1, result.stderr + result.stdout);
    assert.match(result.stdout + result.stderr, /unsupported startup parameter: options; that is a pooler such as PgBouncer: give --pooler/);
  });

  it('refuses --listen-url through the pooler, where LISTEN would hear nothing, and --pooler with no URL', async () => {
    const env = { DATABASE_URL: bouncer.url, SUPERVISOR_SCHEMA: db.schema };
    const result = await runCli(['run', '--tasks', tasks, '--metrics-port', '0', '--pooler', '--listen-url', bouncer.url], env);
    assert.equal(result.code, 1, result.stderr + result.stdout);
    assert.match(result.stdout + result.stderr, /hears nothing: --listen-url must reach PostgreSQL directly, or through a pooler in session mode/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'one line, no stack');
    const noUrl = await runCli(['status', '--pooler'], { DATABASE_URL: '' });
    assert.equal(noUrl.code, 2, noUrl.stderr);
    assert.match(noUrl.stderr, /--pooler \(SUPERVISOR_POOLER\) says the database URL goes through a pooler, but no DATABASE_URL/);
    const databaseUrl = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      assert.throws(() => new Queue({ schema: db.schema, pooler: true }), /pooler: true says the connection goes through a pooler, but no connectionString/);
    } finally {
      if (databaseUrl !== undefined) process.env.DATABASE_URL = databaseUrl;
    }
  });

  it('tells a Queue that forgot pooler: true what to give', async () => {
    const queues = [0, 1, 2].map(() => new Queue({ connectionString: bouncer.url, schema: db.schema }));
    try {
      // Three clients on PgBouncer's three server connections: a statement
      // prepared under one name meets another session's copy, or none.
      const failures = (await Promise.allSettled(queues.flatMap((queue) => Array.from({ length: 20 }, () => queue.add('noop'))))).filter(
        (result): result is PromiseRejectedResult => result.status === 'rejected',
      );
      assert.ok(failures.length > 0, 'prepared statements break behind a pooler in transaction mode');
      for (const failure of failures) assert.match(String(failure.reason), /give the Queue pooler: true/);
    } finally {
      await Promise.all(queues.map((queue) => queue.close()));
      await db.query('delete from jobs'); // the adds that went through: the next test counts its own
    }
  });

  it('drains, retries and recovers with two supervisors that poll, and a Queue and the CLI add and wait', async () => {
    const out = recordFile();
    const env = { DATABASE_URL: bouncer.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const args = ['--tasks', tasks, '--pooler', '--poll-interval', '100ms', '--lease', '2s', '--threads', '2', '--concurrency', '8', '--metrics-port', '0'];
    const supervisors = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    const queue = new Queue({ connectionString: bouncer.url, schema: db.schema, pooler: true });
    try {
      await Promise.all(supervisors.map((s) => s.started()));
      for (const supervisor of supervisors) assert.equal(supervisor.lines.filter(polling).length, 1, 'the polling is said once, at start');

      const added = await queue.addMany([
        ...Array.from({ length: 1000 }, (_, i) => ({ task: 'recorded', payload: { i } })),
        ...Array.from({ length: 20 }, () => ({ task: 'failUntil', payload: { succeedOn: 3 }, maxAttempts: 3 })),
      ]);
      const cli = await runCli(['enqueue', 'recorded', '--pooler'], env);
      assert.equal(cli.code, 0, cli.stderr);
      const waited = await queue.waitFor(added[1000]!.id, { timeout: '30s' });
      assert.equal(waited.attempts, 3, 'retried twice, then succeeded');
      await waitFor('every job succeeded', async () => (await statusCounts(db)).success === 1021, 60_000);
      const runs = readRuns(out);
      const once = new Set(runs.filter((run) => run.attempt === 1).map((run) => run.jobId));
      assert.equal(once.size, 1021, 'each job ran its first attempt once');
      assert.equal(runs.length, 1021 + 40, 'and the retries, two per failing job, no more');

      // Recovery: a job held by a supervisor killed with SIGKILL runs again elsewhere.
      const door = gate();
      const held = await queue.add('waitUntil', { gate: door.path });
      const holder = await waitFor('the job running', async () => (await db.job(held.id)).locked_by as string | null);
      const [row] = await db.query<{ pid: number }>(`select pid from supervisors where supervisor_id = $1`, [holder]);
      const killed = supervisors.find((s) => s.pid === row!.pid)!;
      killed.kill('SIGKILL');
      await killed.waitForExit();
      door.open();
      const recovered = await queue.waitFor(held.id, { timeout: '30s' });
      assert.equal(recovered.attempts, 2);
      assert.match(String(recovered.errors?.[0]?.error), /lease expired/);

      const listed = await runCli(['--pooler', 'jobs', '--status', 'success', '--limit', '5'], env);
      assert.equal(listed.code, 0, listed.stderr);
      for (const supervisor of supervisors) assert.doesNotMatch(supervisor.output, /Warning/, 'pg warns of queries queued on a busy client');
    } finally {
      await queue.close();
      await Promise.all(supervisors.map((s) => s.stop()));
    }
  });

  it('listens straight to PostgreSQL with --listen-url, so a job starts without waiting for a poll', async () => {
    const env = { DATABASE_URL: bouncer.url, SUPERVISOR_SCHEMA: db.schema };
    const supervisor = new SupervisorProcess(
      ['--tasks', tasks, '--pooler', '--listen-url', db.url, '--poll-interval', '1h', '--metrics-port', '0', '--log-level', 'debug'],
      env,
    );
    const queue = new Queue({ connectionString: bouncer.url, schema: db.schema, pooler: true, listenUrl: db.url });
    try {
      await supervisor.started();
      assert.equal(supervisor.lines.filter(polling).length, 0);
      // With an hour between polls, only the notification can start these.
      for (let i = 0; i < 3; i++) {
        const job = await queue.add('noop');
        // A job left pending here once in CI: the supervisor's log says why next time.
        const ended = await queue.waitFor(job.id, { timeout: '20s' }).catch((error: unknown) => {
          throw explained(error);
        });
        assert.equal(ended.job_status, 'success');
      }
    } finally {
      await queue.close();
      await supervisor.stop();
    }
  });
});
