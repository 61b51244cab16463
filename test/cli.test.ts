import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectionOptions, consoleOptions, enqueueOptions, jobOptions, jobsOptions, retentionOptions, retryOptions, runOptions } from '../src/config.js';
import { listMigrations } from '../src/db/migrate.js';
import { fixtures, runCli } from './helpers/cli.js';
import { testDb, type TestDb } from './helpers/db.js';
import { freePort, silentServer } from './helpers/ports.js';

let db: TestDb;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, env);

before(async () => {
  db = await testDb('cli');
  env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema };
});
after(() => db.drop());


describe('supervisor --help', () => {
  it('lists every command', async () => {
    const { code, stdout } = await cli('--help');
    assert.equal(code, 0);
    for (const command of ['run', 'migrate', 'enqueue', 'jobs', 'job', 'retry', 'cancel', 'delete', 'console', 'status', 'prune']) {
      assert.match(stdout, new RegExp(`supervisor ${command}`), `--help mentions ${command}`);
    }
  });

  const commands: [string, Record<string, { flag: string; env: string }>][] = [
    ['run', { ...connectionOptions, ...runOptions, ...retentionOptions }],
    ['prune', { ...connectionOptions, ...retentionOptions }],
    ['enqueue', { ...connectionOptions, ...enqueueOptions }],
    ['jobs', { ...connectionOptions, ...jobsOptions }],
    ['job', { ...connectionOptions, ...jobOptions }],
    ['retry', { ...connectionOptions, ...retryOptions }],
    ['console', { ...connectionOptions, ...consoleOptions }],
  ];
  for (const [command, specs] of commands) {
    it(`documents every flag of ${command} with its environment variable`, async () => {
      const { code, stdout } = await cli(command, '--help');
      assert.equal(code, 0);
      for (const spec of Object.values(specs)) {
        assert.match(stdout, new RegExp(`--${spec.flag}\\b`), `${command} --help shows --${spec.flag}`);
        assert.match(stdout, new RegExp(`env ${spec.env}\\b`), `${command} --help names ${spec.env}`);
      }
    });
  }
});

describe('bad input exits non-zero with a clear message and writes nothing', () => {
  it('rejects an unknown flag', async () => {
    const { code, stderr } = await cli('jobs', '--colour');
    assert.equal(code, 2);
    assert.match(stderr, /Unknown argument: colour/);
  });

  it('rejects --threads 0 and a non-number', async () => {
    for (const value of ['0', 'many']) {
      const { code, stderr } = await cli('--threads', value, '--tasks', join(fixtures, 'tasks.js'));
      assert.equal(code, 2);
      assert.match(stderr, new RegExp(`--threads must be a whole number from 1 to 1024 \\(got '${value}'\\)`));
    }
  });

  it('rejects a malformed DATABASE_URL', async () => {
    const { code, stderr } = await runCli(['enqueue', 'noop'], { ...env, DATABASE_URL: 'postgres//oops' });
    assert.equal(code, 2);
    assert.match(stderr, /DATABASE_URL is not a valid URL/);
  });

  it('names the host and port of an unreachable database', async () => {
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/app`;
    for (const args of [['enqueue', 'noop'], ['--tasks', join(fixtures, 'tasks.js')]]) {
      const { code, stderr } = await runCli(args, { ...env, DATABASE_URL: url });
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`cannot connect to PostgreSQL at 127.0.0.1:${port}/app: connection refused`));
    }
  });

  it('names the host and port of a server that never answers, after --connect-timeout', async () => {
    const silent = await silentServer();
    try {
      const url = `postgres://postgres@127.0.0.1:${silent.port}/app`;
      for (const args of [['jobs'], ['--tasks', join(fixtures, 'tasks.js')]]) {
        const { code, stderr } = await runCli([...args, '--connect-timeout', '500ms'], { ...env, DATABASE_URL: url });
        assert.equal(code, 1, stderr);
        assert.match(stderr, new RegExp(`cannot connect to PostgreSQL at 127.0.0.1:${silent.port}/app: no answer within 0.5 s \\(--connect-timeout\\)`));
      }
    } finally {
      await silent.close();
    }
  });

  it('rejects a payload holding a NUL character and a job key over its limit, naming the field', async () => {
    const nul = await cli('enqueue', 'noop', '{"text":"a\\u0000b"}');
    assert.equal(nul.code, 2);
    assert.match(nul.stderr, /payload contains a NUL character/);
    const long = await cli('enqueue', 'noop', '--job-key', 'k'.repeat(10_000));
    assert.equal(long.code, 2);
    assert.match(long.stderr, /jobKey is 10000 bytes long; the limit is 1000 bytes/);
    assert.deepEqual(await db.query(`select 1 from jobs where task = 'noop'`), []);
  });

  it('rejects an invalid JSON payload', async () => {
    const { code, stderr } = await cli('enqueue', 'noop', '{name: world}', '--job-key', 'bad-json');
    assert.equal(code, 2);
    assert.match(stderr, /payload is not valid JSON/);
    assert.deepEqual(await db.query(`select 1 from jobs where job_key = 'bad-json'`), []);
  });

  it('rejects --job-key with --count above 1', async () => {
    const { code, stderr } = await cli('enqueue', 'noop', '--job-key', 'k', '--count', '2');
    assert.equal(code, 2);
    assert.match(stderr, /cannot be combined with --count/);
    assert.deepEqual(await db.query(`select 1 from jobs where job_key = 'k'`), []);
  });

  it('stops at start, exit code 1, when the metrics port is taken', async () => {
    const taken = await silentServer();
    try {
      const { code, stderr } = await cli('--tasks', join(fixtures, 'tasks.js'), '--threads', '1', '--metrics-port', String(taken.port), '--metrics-host', '127.0.0.1');
      assert.equal(code, 1);
      assert.match(stderr, new RegExp(`cannot serve metrics on 127.0.0.1:${taken.port}: the port is in use; choose another --metrics-port, or 0 to disable the endpoint`));
    } finally {
      await taken.close();
    }
  });

  it('stops at start on a --tasks path that does not exist', async () => {
    const { code, stderr } = await cli('--tasks', './no/such/tasks.js');
    assert.equal(code, 1);
    assert.match(stderr, /--tasks \.\/no\/such\/tasks\.js: no such file or directory/);
  });

  it('stops at start on a task module that throws on load', async () => {
    const { code, stderr } = await cli('--tasks', join(fixtures, 'throws-on-load.js'), '--threads', '1');
    assert.equal(code, 1);
    assert.match(stderr, /cannot load task module .*throws-on-load\.js: Error: this task module cannot load/);
  });

  it('stops at start on a task module that exports no handler', async () => {
    const { code, stderr } = await cli('--tasks', join(fixtures, 'no-handlers.js'), '--threads', '1');
    assert.equal(code, 1);
    assert.match(stderr, /no-handlers\.js defines no task: export handlers by name/);
  });

  it('refuses to work on a schema that has not been migrated', async () => {
    const { code, stderr } = await runCli(['jobs'], { ...env, SUPERVISOR_SCHEMA: `${db.schema}_empty` });
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`has no pg-supervisor tables yet: run 'supervisor migrate --schema ${db.schema}_empty'`));
  });
});

describe('commands', () => {
  it('migrate applies migrations once', async () => {
    const schema = `${db.schema}_m`;
    try {
      const first = await runCli(['migrate'], { ...env, SUPERVISOR_SCHEMA: schema });
      assert.equal(first.code, 0, first.stderr);
      const versions = (await listMigrations()).map((m) => m.version).join(', ');
      assert.ok(first.stdout.includes(`applied migration(s) ${versions} to schema`), first.stdout);
      const second = await runCli(['migrate', '--schema', schema], env);
      assert.equal(second.code, 0);
      assert.match(second.stdout, /is up to date/);
    } finally {
      await db.pool.query(`drop schema if exists "${schema}" cascade`);
    }
  });

  it('enqueue sets every job option', async () => {
    const { code, stdout, stderr } = await cli(
      'enqueue', 'hello', '{"name":"world"}', '--queue', 'mail', '--run-at', '2030-01-02T03:04:05Z',
      '--priority', '-5', '--max-attempts', '7', '--job-key', 'welcome-1',
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /enqueued 1 hello job \(id \d+\) in queue 'mail'/);
    const [job] = await db.query(`select * from jobs where job_key = 'welcome-1'`);
    assert.equal(job.task, 'hello');
    assert.deepEqual(job.job_data, { name: 'world' });
    assert.equal(job.queue, 'mail');
    assert.equal(job.run_at.toISOString(), '2030-01-02T03:04:05.000Z');
    assert.equal(job.priority, -5);
    assert.equal(job.max_attempts, 7);
    assert.equal(job.job_status, 'pending');

    const again = await cli('enqueue', 'hello', '--job-key', 'welcome-1');
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`not added: job ${job.job_id} already has job key 'welcome-1'`));
  });

  it('enqueue --count adds that many jobs; options also come from env vars', async () => {
    const { code, stderr } = await runCli(['enqueue', 'counted', '--count', '5'], { ...env, SUPERVISOR_QUEUE: 'bulk', SUPERVISOR_RUN_AT: '1h' });
    assert.equal(code, 0, stderr);
    const rows = await db.query(`select queue, run_at from jobs where task = 'counted'`);
    assert.equal(rows.length, 5);
    assert.ok(rows.every((row) => row.queue === 'bulk' && row.run_at.getTime() > Date.now() + 3_500_000));
  });

  it('jobs lists and filters; retry and cancel change status', async () => {
    await db.query(`insert into jobs (task, job_status, attempts, last_error) select 'broken', 'failed', 3, 'Error: boom' from generate_series(1, 3)`);
    const listed = await cli('jobs', '--status', 'failed', '--task', 'broken', '--limit', '2');
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.trim().split('\n');
    assert.match(lines[0]!, /^ID\s+TASK\s+QUEUE\s+STATUS/);
    assert.equal(lines.length, 4);
    assert.match(lines[3]!, /^\(2 of 3 jobs; --before \d+ for the next page, or --limit to see more\)$/);
    assert.match(lines[1]!, /broken\s+default\s+failed\s+3\/3.*Error: boom/);

    const json = await cli('jobs', '--status', 'failed', '--json');
    const parsed = json.stdout.trim().split('\n').map((line) => JSON.parse(line));
    assert.equal(parsed.length, 3);
    const flagFirst = await cli('--json', 'jobs', '--status', 'failed');
    assert.equal(flagFirst.stdout, json.stdout, 'a flag that takes no value may come before the command');
    assert.equal(parsed[0].last_error, 'Error: boom');

    const [first] = parsed;
    const one = await cli('retry', first.job_id);
    assert.match(one.stdout, /re-queued 1 job/);
    const all = await cli('retry', '--failed', '--task', 'broken');
    assert.match(all.stdout, /re-queued 2 jobs/);
    const rows = await db.query(`select job_status, attempts from jobs where task = 'broken'`);
    assert.ok(rows.every((row) => row.job_status === 'pending' && row.attempts === 0));

    const cancelled = await cli('cancel', first.job_id, '999999999');
    assert.equal(cancelled.code, 1, 'an id that does not exist fails the command');
    assert.match(cancelled.stdout, /^cancelled 1 job$/m);
    assert.match(cancelled.stderr, /not cancelled: no job with id 999999999/);
    const [row] = await db.query(`select job_status from jobs where job_id = $1`, [first.job_id]);
    assert.equal(row.job_status, 'cancelled');
    const again = await cli('cancel', first.job_id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`not cancelled: job ${first.job_id} is cancelled \\(it is not pending or running\\)`));
    const retryMissing = await cli('retry', '999999999');
    assert.equal(retryMissing.code, 1);
    assert.match(retryMissing.stderr, /not re-queued: no job with id 999999999/);

    const noIds = await cli('cancel');
    assert.equal(noIds.code, 2);
    assert.match(noIds.stderr, /say which jobs to cancel: give job ids \(supervisor cancel 12 13\), or filters/);
    const badIds = await cli('cancel', 'abc');
    assert.equal(badIds.code, 2);
    assert.match(badIds.stderr, /job ids are whole numbers/);
    const nothing = await cli('retry');
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /give job ids, or --failed/);
  });

  it('cancel and delete act on every job matching their filters (flags only, never an environment variable); cron run adds a job now', async () => {
    await db.query(`insert into jobs (task, queue, job_data) select 'sweep', q, jsonb_build_object('n', g) from generate_series(1, 4) g, unnest(array['a', 'b']) q`);
    const envFilter = await runCli(['delete'], { ...env, SUPERVISOR_QUEUE: 'a' });
    assert.equal(envFilter.code, 2, 'SUPERVISOR_QUEUE does not choose what is deleted');
    const page = await cli('jobs', '--task', 'sweep', '--limit', '3', '--json');
    const firstPage = page.stdout.trim().split('\n').map((line) => JSON.parse(line).job_id);
    const next = await cli('jobs', '--task', 'sweep', '--limit', '3', '--before', firstPage.at(-1), '--json');
    const secondPage = next.stdout.trim().split('\n').map((line) => JSON.parse(line).job_id);
    assert.equal(new Set([...firstPage, ...secondPage]).size, 6, 'the next page continues where the first ended');
    assert.ok(secondPage.every((id: string) => BigInt(id) < BigInt(firstPage.at(-1))));
    const found = await cli('jobs', '--search', '"n": 3', '--json');
    assert.equal(found.stdout.trim().split('\n').length, 2, 'the two jobs with n 3 in their payload');
    const cancelled = await cli('cancel', '--queue', 'a', '--task', 'sweep');
    assert.match(cancelled.stdout, /^cancelled 4 jobs$/m);
    const deleted = await cli('delete', '--task', 'sweep', '--status', 'cancelled');
    assert.match(deleted.stdout, /^deleted 4 jobs$/m);
    assert.deepEqual(await db.query(`select queue, job_status, count(*)::int from jobs where task = 'sweep' group by 1, 2`), [{ queue: 'b', job_status: 'pending', count: 4 }]);
    const both = await cli('delete', '1', '--queue', 'b');
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give job ids or filters \(--status, --queue, --task, --search\), not both/);

    assert.equal((await cli('cron', 'add', 'hourly', '@hourly', 'sweep')).code, 0);
    const ran = await cli('cron', 'run', 'hourly');
    assert.equal(ran.code, 0, ran.stderr);
    const [, id] = /added job (\d+) of schedule 'hourly' now/.exec(ran.stdout) ?? [];
    assert.equal((await db.job(id!)).task, 'sweep');
    const missing = await cli('cron', 'run', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no schedule named 'nope'/);
  });

  it('jobs and status show control characters escaped and cut long cells; --json keeps names exact', async () => {
    const task = 'evil\u001b[31mred\u001b]0;pwned\u0007\nline';
    const queue = `q\u001b[2J${'x'.repeat(200)}`;
    await db.query(`insert into jobs (task, queue, last_error) values ($1, $2, $3)`, [task, queue, 'Error: bad\u001b[5m']);
    const listed = await cli('jobs', '--queue', queue);
    assert.equal(listed.code, 0, listed.stderr);
    assert.doesNotMatch(listed.stdout, /[\u0000-\u0009\u000b-\u001f\u007f]/, 'no control character but the line ends');
    const lines = listed.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, 'one header and one row');
    assert.match(lines[1]!, /evil\\e\[31mred\\e\]0;pwned\\x07\\nline/);
    assert.match(lines[1]!, /q\\e\[2Jx+…/);
    assert.match(lines[1]!, /Error: bad\\e\[5m/);
    const json = await cli('jobs', '--queue', queue, '--json');
    assert.equal(JSON.parse(json.stdout).task, task);
    const status = await cli('status');
    assert.doesNotMatch(status.stdout, /\u001b/);
    assert.match(status.stdout, /q\\e\[2Jx+…/);
  });

  it('status shows live supervisors and counts by queue and status', async () => {
    await db.query(`insert into supervisors (supervisor_id, host, pid, threads, concurrency) values ('test-sup', 'h', 1, 2, 3)`);
    await db.query(`insert into jobs (task, queue, job_status) select 'counted', 'status-q', s from unnest('{pending,pending,failed}'::text[]) s`);
    const { code, stdout } = await cli('status');
    assert.equal(code, 0);
    assert.match(stdout, /supervisors \(1\):/);
    assert.match(stdout, /test-sup\s+h\s+1\s+2×3/);
    assert.match(stdout, /status-q\s+failed\s+1\n/);
    assert.match(stdout, /status-q\s+pending\s+2\n/);
  });
});
