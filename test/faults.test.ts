import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let proxy: TcpProxy;

before(async () => {
  db = await testDb('faults');
  const target = new URL(db.url);
  proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
});
after(async () => {
  await proxy.stop();
  await db.drop();
});

it('loses no job and runs none twice when the database connection drops in the middle of a drain', async () => {
  const out = recordFile();
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  viaProxy.hostname = '127.0.0.1';
  // A one-minute poll: jobs added after the faults are found by a re-established LISTEN.
  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '2', '--concurrency', '8', '--poll-interval', '60s'],
    { DATABASE_URL: viaProxy.href, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out },
  );
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  let exit;
  try {
    await supervisor.started();
    await queue.addMany(Array.from({ length: 3000 }, () => ({ task: 'sleep', payload: { ms: 5 } })));
    await waitFor('draining', () => readRuns(out).length > 300);
    proxy.cut();
    await waitFor('draining again', () => readRuns(out).length > 1200, 30_000);
    await proxy.outage(1500);
    await waitFor('draining after the outage', () => readRuns(out).length > 2000, 30_000);
    proxy.cut();
    await waitFor('first 3,000 done', async () => (await statusCounts(db)).success === 3000, 60_000);

    await queue.addMany(Array.from({ length: 100 }, () => ({ task: 'recorded' })));
    await waitFor('jobs added after the faults done', async () => (await statusCounts(db)).success === 3100, 10_000);

    const runs = readRuns(out);
    const counts = new Map<string, number>();
    for (const run of runs) counts.set(run.jobId, (counts.get(run.jobId) ?? 0) + 1);
    assert.equal(counts.size, 3100);
    assert.deepEqual([...counts.entries()].filter(([, n]) => n > 1), [], 'no job ran twice');
    assert.ok(supervisor.lines.some((line) => /reconnect|will retry/.test(String(line.msg))), 'the faults were logged');
  } finally {
    await queue.close();
    exit = await supervisor.stop();
  }
  assert.equal(exit.code, 0, 'graceful exit on SIGTERM');
});
