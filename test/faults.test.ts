import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Queue } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { TcpProxy } from './helpers/proxy.js';
import { gate, readRuns, recordFile } from './helpers/records.js';

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
    assert.ok(supervisor.lines.some((line) => String(line.msg).startsWith('lost the database')), 'the faults were logged');
  } finally {
    await queue.close();
    exit = await supervisor.stop();
  }
  assert.equal(exit.code, 0, 'graceful exit on SIGTERM');
});

it('an outage of several backoff steps: one probe loop, two log lines, and work resumes', async (t) => {
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  viaProxy.hostname = '127.0.0.1';
  // A poll every 100 ms wakes the claimer 120 times during the outage: each
  // wake-up must not start a retry of its own.
  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '1', '--poll-interval', '100ms', '--queues', 'outage'],
    { DATABASE_URL: viaProxy.href, SUPERVISOR_SCHEMA: db.schema },
  );
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  let exit;
  try {
    await supervisor.started();
    const before = proxy.refused;
    await proxy.outage(12_000);
    const attempts = proxy.refused - before;
    t.diagnostic(`${attempts} connection attempts during the 12 s outage`);
    const added = await queue.addMany([{ task: 'noop', queue: 'outage' }]);
    await waitFor('a job added after the outage done', async () => (await db.job(added[0]!.id)).job_status === 'success');
    // Backoff from 100 ms up to a few seconds: about 9 heartbeat probes and
    // 7 LISTEN reconnects in 12 s; claims and recovery wait for the probe.
    assert.ok(attempts > 5 && attempts <= 30, `${attempts} connection attempts during a 12 s outage`);
    const messages = supervisor.lines.map((line) => String(line.msg));
    assert.equal(messages.filter((msg) => msg.startsWith('lost the database')).length, 1, messages.join('\n'));
    assert.equal(messages.filter((msg) => msg.startsWith('the database answers again')).length, 1, messages.join('\n'));
    assert.deepEqual(supervisor.lines.filter((line) => Number(line.level) >= 40 && !String(line.msg).startsWith('lost the database')), []);
  } finally {
    await queue.close();
    exit = await supervisor.stop();
  }
  assert.equal(exit.code, 0);
});

it('after an outage of half a lease the leases are renewed before anything else, and nothing runs twice', async () => {
  const out = recordFile();
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  viaProxy.hostname = '127.0.0.1';
  const leaseArgs = ['--tasks', join(fixtures, 'tasks.js'), '--threads', '1', '--concurrency', '2', '--lease', '3s', '--poll-interval', '100ms'];
  const env = { SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
  const holder = new SupervisorProcess([...leaseArgs, '--queues', 'renew'], { ...env, DATABASE_URL: viaProxy.href });
  // Recovers expired leases, and would re-run the holder's job if its lease ran out.
  const watcher = new SupervisorProcess([...leaseArgs, '--queues', 'elsewhere'], { ...env, DATABASE_URL: db.url });
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  const release = gate();
  try {
    const holderId = (await holder.started()).supervisorId as string;
    await watcher.started();
    const [held] = await queue.addMany([{ task: 'waitUntil', payload: { gate: release.path }, queue: 'renew' }]);
    await waitFor('the held job running', () => readRuns(out).some((run) => run.jobId === held!.id));
    // Start the outage just after a heartbeat, so the lease has its longest to run.
    const beat = async () => (await db.query(`select heartbeat_at from supervisors where supervisor_id = $1`, [holderId]))[0]?.heartbeat_at?.getTime();
    const last = await beat();
    await waitFor('a heartbeat', async () => (await beat()) !== last);
    const outage = proxy.outage(1500);
    const [next] = await queue.addMany([{ task: 'recorded', queue: 'renew' }]);
    await outage;
    proxy.record();
    await waitFor('the job added during the outage done', async () => (await db.job(next!.id)).job_status === 'success');
    release.open();
    await waitFor('the held job done', async () => (await db.job(held!.id)).job_status === 'success');

    const row = await db.job(held!.id);
    assert.deepEqual([row.attempts, row.last_error], [1, null], 'never recovered');
    assert.equal(readRuns(out).filter((run) => run.jobId === held!.id).length, 1);
    const traffic = proxy.sent.join('');
    const renewal = traffic.indexOf('.extend-leases');
    const claim = traffic.indexOf('.claim-jobs');
    assert.ok(renewal >= 0 && claim >= 0, 'both statements seen after the outage');
    assert.ok(renewal < claim, 'the lease was renewed before the first claim');
  } finally {
    release.open();
    await queue.close();
    await Promise.all([holder.stop(), watcher.stop()]);
  }
});
