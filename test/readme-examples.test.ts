/**
 * README examples of the producer side, run as written on a database of
 * their own (the examples use the default schema): adding a job in a Knex
 * transaction, and an application's test file using pg-supervisor/testing.
 * The files are written inside this package, so `import 'pg-supervisor'`
 * resolves to it (the built dist/) as it does in an application.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { silentLogger } from '../src/log.js';
import { packageRoot } from '../src/paths.js';
import { databaseUrl, waitFor } from './helpers/db.js';
import { section } from './helpers/readme.js';

const name = `t_readme_${process.pid}`;
const dir = join(packageRoot, 'build', `readme-examples-${process.pid}`);
const admin = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
let url: string;
let db: pg.Pool;

before(async () => {
  await admin.query(`create database ${name}`);
  const parsed = new URL(databaseUrl());
  parsed.pathname = `/${name}`;
  url = parsed.toString();
  db = new pg.Pool({ connectionString: url, max: 2 });
  await migrate(db, 'supervisor', silentLogger());
  mkdirSync(dir, { recursive: true });
});
after(async () => {
  await db.end();
  // pool.end() resolves before its connections have closed: a forced drop
  // at once could terminate one of ours mid-close, an error nobody handles.
  // After 5 s, whatever is left is dropped with the database.
  const closed = async () => (await admin.query('select count(*)::int as n from pg_stat_activity where datname = $1', [name])).rows[0].n === 0;
  await waitFor('the examples database to have no connections', closed, 5000).catch(() => undefined);
  await admin.query(`drop database if exists ${name} with (force)`).catch(() => admin.query(`drop database if exists ${name}`));
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes the README's block (its first line names the file) and runs `node <args>` in the examples' folder. */
function run(block: string, args: (file: string) => string[]) {
  const [, file] = /^\/\/ (\S+)/.exec(block)!;
  writeFileSync(join(dir, file!), block);
  // Without NODE_TEST_CONTEXT, which would make a nested `node --test` report to this run instead of printing.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const result = spawnSync(process.execPath, args(file!), { cwd: dir, encoding: 'utf8', env: { ...env, DATABASE_URL: url }, timeout: 60_000 });
  assert.equal(result.status, 0, `${file}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

it('adds an order and its job in one Knex transaction, as the README shows', async () => {
  await db.query('create table orders (id serial primary key, customer text not null)');
  const knexBlock = section('Adding a job in your own transaction').find((b) => b.lang === 'js' && b.body.includes("from 'knex'"))!;
  const output = run(knexBlock.body, (file) => [file]);
  const [, jobId] = /order committed with job (\d+)/.exec(output) ?? [];
  assert.ok(jobId, output);
  const { rows } = await db.query(`select j.task, j.job_data, o.id as order_id from supervisor.jobs j, orders o where j.job_id = $1`, [jobId]);
  assert.deepEqual(rows, [{ task: 'sendReceipt', job_data: { orderId: 1 }, order_id: 1 }]);
});

it("runs the README's test file with node --test: runDueJobs and runTask as an application uses them", async () => {
  writeFileSync(join(dir, 'tasks.js'), `export async function sendReceipt(payload) {\n  return { orderId: payload.orderId, sent: true };\n}\n`);
  const testBlock = section('Testing your handlers').find((b) => b.lang === 'js')!;
  const output = run(testBlock.body, (file) => ['--test', '--test-reporter=tap', file]);
  assert.match(output, /^# pass 2$/m);
  assert.match(output, /^# fail 0$/m);
  const { rows } = await db.query(`select task, job_status, result from test_jobs.jobs`);
  assert.deepEqual(rows, [{ task: 'sendReceipt', job_status: 'success', result: { orderId: 42, sent: true } }]);
});
