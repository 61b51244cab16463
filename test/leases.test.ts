import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue, startSupervisor } from '../src/index.js';
import { fixtures, SupervisorProcess } from './helpers/cli.js';
import { statusCounts, testDb, waitFor, type TestDb } from './helpers/db.js';
import { readRuns, recordFile } from './helpers/records.js';

let db: TestDb;
let queue: Queue;
const tasks = join(fixtures, 'tasks.js');

before(async () => {
  db = await testDb('leases');
  queue = new Queue({ connectionString: db.url, schema: db.schema });
});
after(async () => {
  await queue.close();
  await db.drop();
});

const job = (id: string) => db.job(id);

describe('leases and recovery', () => {
  it('after kill -9 of one of two supervisors, its jobs run elsewhere within lease + recovery interval', async () => {
    const out = recordFile();
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const leaseMs = 1500;
    const args = ['--tasks', tasks, '--threads', '2', '--concurrency', '8', '--lease', `${leaseMs}ms`, '--queues', 'kill'];
    const [victim, survivor] = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    try {
      const victimId = (await victim.started()).supervisorId as string;
      await survivor.started();
      await queue.addMany(Array.from({ length: 5000 }, () => ({ task: 'sleep', payload: { ms: 2 }, queue: 'kill' })));
      await waitFor('the victim is busy', () => readRuns(out).filter((run) => run.pid === victim.pid).length > 300);

      const claimConnections = await db.query(
        `select 1 from pg_stat_activity where application_name = $1 and query like '%set job_status = ''running''%'`, [victimId]);
      assert.equal(claimConnections.length, 1, 'the victim names its claim connection');
      victim.kill('SIGKILL');
      await victim.exited;
      const killedAt = Date.now();
      // A claim the victim sent just before it died still commits on the
      // server; its backends end once they find the client gone. Only then
      // is the set of jobs it holds final.
      await waitFor('the victim\'s connections closed', async () =>
        (await db.query(`select 1 from pg_stat_activity where application_name = $1`, [victimId])).length === 0);
      const inFlight = new Set(
        (await db.query<{ job_id: string }>(`select job_id from jobs where locked_by = $1 and job_status = 'running'`, [victimId])).map((r) => r.job_id),
      );
      await waitFor('the victim\'s jobs recovered', async () => (await db.query(`select 1 from jobs where locked_by = $1`, [victimId])).length === 0, 15_000);
      const recoveredAfter = Date.now() - killedAt;
      assert.ok(recoveredAfter < leaseMs + leaseMs / 3 + 1500, `recovered ${recoveredAfter} ms after the kill`);

      await waitFor('every job succeeded', async () => (await statusCounts(db)).success === 5000, 60_000);
      const runs = readRuns(out);
      const perJob = new Map<string, typeof runs>();
      for (const run of runs) perJob.set(run.jobId, [...(perJob.get(run.jobId) ?? []), run]);
      assert.equal(perJob.size, 5000, 'every job ran');
      const twice = [...perJob.entries()].filter(([, r]) => r.length > 1);
      for (const [id, r] of twice) {
        assert.ok(inFlight.has(id), `job ${id} ran twice but was not in flight at the kill`);
        assert.equal(r.length, 2);
        assert.equal(r[0]!.pid, victim.pid);
      }
      const [recovered] = await db.query(`select count(*)::int as n from jobs where last_error like 'lease expired: supervisor ' || $1 || '%'`, [victimId]);
      assert.equal(recovered.n, inFlight.size, 'every job in flight at the kill was recovered, naming the victim');
    } finally {
      victim.kill('SIGKILL');
      await survivor.stop();
    }
  });

  it('refuses a late completion for a job whose lease was taken over, and counts it', async () => {
    const supervisor = await startSupervisor({
      connectionString: db.url, schema: db.schema, tasks, threads: 1, queues: 'stale', logLevel: 'silent', lease: '60s',
    });
    try {
      const out = recordFile();
      process.env.TEST_OUT = out;
      const added = await queue.add('sleep', { ms: 1000 }, { queue: 'stale' });
      await waitFor('running', async () => (await job(added.id)).job_status === 'running');
      // Another supervisor recovered the job and runs it as attempt 2.
      await db.query(`update jobs set locked_by = 'thief', attempts = attempts + 1 where job_id = $1`, [added.id]);
      await waitFor('the late completion refused', () => supervisor.stats.stale === 1, 10_000);
      const row = await job(added.id);
      assert.equal(row.job_status, 'running');
      assert.equal(row.locked_by, 'thief');
      assert.equal(row.attempts, 2);
      assert.equal(supervisor.stats.succeeded, 0);
      await queue.cancel([added.id]);
    } finally {
      await supervisor.stop();
    }
  });

  it('a heartbeat keeps the lease of a job that runs far longer than the lease', async () => {
    const out = recordFile();
    const env = { DATABASE_URL: db.url, SUPERVISOR_SCHEMA: db.schema, TEST_OUT: out };
    const args = ['--tasks', tasks, '--threads', '1', '--lease', '600ms', '--queues', 'long'];
    const [runner, watcher] = [new SupervisorProcess(args, env), new SupervisorProcess(args, env)];
    try {
      await Promise.all([runner.started(), watcher.started()]);
      const added = await queue.add('sleep', { ms: 3000 }, { queue: 'long' });
      await waitFor('both supervisors rows refreshed while the job runs', async () => {
        const [row] = await db.query(`select bool_and(heartbeat_at > started_at + interval '1 second') as fresh from supervisors`);
        return row.fresh === true;
      });
      await waitFor('done', async () => (await job(added.id)).job_status === 'success', 15_000);
      const row = await job(added.id);
      assert.equal(row.attempts, 1, 'never recovered while its supervisor lived');
      assert.equal(readRuns(out).filter((run) => run.jobId === added.id).length, 1);
    } finally {
      await Promise.all([runner.stop(), watcher.stop()]);
    }
  });
});
