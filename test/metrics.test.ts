import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Queue } from '../src/index.js';
import { queueDepthReuseMs } from '../src/metrics/metrics.js';
import { packageRoot } from '../src/paths.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { freePort } from './helpers/ports.js';

let db: TestDb;
before(async () => {
  db = await testDb('metrics');
});
after(() => db.drop());

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

const value = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

it('counts a known workload exactly, over a real HTTP scrape', async () => {
  const port = await freePort();
  const supervisor = new SupervisorProcess(
    ['--tasks', join(fixtures, 'tasks.js'), '--threads', '2', '--concurrency', '4', '--metrics-port', String(port), '--metrics-host', '127.0.0.1'],
    { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema },
  );
  const queue = new Queue({ connectionString: db.url, schema: db.schema });
  const base = `http://127.0.0.1:${port}`;
  try {
    await supervisor.started();
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);

    await queue.addMany([
      ...Array.from({ length: 300 }, () => ({ task: 'noop', queue: 'q1' })),
      ...Array.from({ length: 50 }, () => ({ task: 'failUntil', payload: { succeedOn: 2 }, queue: 'q2' })),
      ...Array.from({ length: 20 }, () => ({ task: 'fail', queue: 'q2', maxAttempts: 2 })),
    ]);
    // Retries wait for their backoff (about 5 s); speed them up as time passing would.
    await waitFor('first attempts done', async () => (await db.query(`select 1 from jobs where job_status = 'pending' and attempts = 1`)).length === 70);
    await db.query(`update jobs set run_at = now() where job_status = 'pending'`);
    await waitFor('workload done', async () => {
      const counts = await statusCounts(db);
      return counts.success === 350 && counts.failed === 20;
    });

    const samples = parse(await (await fetch(`${base}/metrics`)).text());
    const l = (queue: string, task: string) => `{queue="${queue}",task="${task}"}`;
    assert.equal(value(samples, `supervisor_jobs_claimed_total${l('q1', 'noop')}`), 300);
    assert.equal(value(samples, `supervisor_jobs_claimed_total${l('q2', 'failUntil')}`), 100);
    assert.equal(value(samples, `supervisor_jobs_claimed_total${l('q2', 'fail')}`), 40);
    assert.equal(value(samples, `supervisor_jobs_succeeded_total${l('q1', 'noop')}`), 300);
    assert.equal(value(samples, `supervisor_jobs_succeeded_total${l('q2', 'failUntil')}`), 50);
    assert.equal(value(samples, `supervisor_jobs_retried_total${l('q2', 'failUntil')}`), 50);
    assert.equal(value(samples, `supervisor_jobs_retried_total${l('q2', 'fail')}`), 20);
    assert.equal(value(samples, `supervisor_jobs_failed_total${l('q2', 'fail')}`), 20);
    assert.equal(value(samples, `supervisor_jobs_failed_total${l('q2', 'failUntil')}`), 0);
    assert.equal(value(samples, 'supervisor_stale_completions_total'), 0);
    assert.equal(value(samples, 'supervisor_leases_recovered_total'), 0);
    assert.equal(value(samples, `supervisor_job_duration_seconds_count{queue="q1",task="noop",outcome="success"}`), 300);
    assert.equal(value(samples, `supervisor_job_duration_seconds_count{queue="q2",task="fail",outcome="failure"}`), 40);
    assert.equal(value(samples, `supervisor_job_duration_seconds_bucket{le="21600",queue="q1",task="noop",outcome="success"}`), 300);
    assert.equal(value(samples, `supervisor_job_lag_seconds_count${l('q1', 'noop')}`), 300);
    assert.equal(value(samples, 'supervisor_jobs_in_flight'), 0);
    assert.equal(value(samples, 'supervisor_pool_threads'), 2);
    assert.equal(value(samples, `supervisor_queue_jobs{queue="q2",status="failed"}`), 20);
    assert.ok(samples.has('nodejs_eventloop_lag_seconds'), 'default Node metrics');
    const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));
    assert.ok([...samples.keys()].some((key) => key.startsWith(`supervisor_info{version="${version}"`) && key.includes('threads="2"')));
    const utilization = value(samples, 'supervisor_pool_utilization');
    assert.ok(utilization >= 0 && utilization <= 1);
    assert.ok(![...samples.keys()].some((key) => /job_?id=/.test(key)), 'no job ids in labels');

    supervisor.kill('SIGTERM');
    await waitFor('not ready once shutdown starts', async () => {
      const response = await fetch(`${base}/readyz`).catch(() => undefined);
      return response === undefined || response.status === 503;
    });
  } finally {
    await queue.close();
    await supervisor.stop();
  }
});

it('reuses a slow queue-depth count longer, so counting takes at most 2% of the time', () => {
  assert.equal(queueDepthReuseMs(3), 5000);
  assert.equal(queueDepthReuseMs(100), 5000);
  assert.equal(queueDepthReuseMs(1000), 50_000);
});
